"""The usage-event admin reads events on both databases (partitioned on PostgreSQL): the list,
its search, filters and dates, and one event's page by its id."""

from datetime import UTC, datetime

import pytest
from django.test import Client
from django.urls import reverse

from accounts.tests.factories import UserFactory
from events.models import UsageEvent

CHANGELIST = reverse("admin:events_usageevent_changelist")


@pytest.fixture
def superuser_client(db) -> Client:
    client = Client()
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    return client


@pytest.fixture
def events(organization):
    times = [datetime(2025, month, 10, 9, tzinfo=UTC) for month in (1, 2, 3)]
    return [
        UsageEvent.objects.create(
            organization=organization,
            user_id=f"member-{n}",
            event_type="login" if n else "booking",
            event_category="a",
            event_id=f"event-{n}",
            timestamp=moment,
        )
        for n, moment in enumerate(times)
    ]


def listed(client: Client, **query) -> list[str]:
    response = client.get(CHANGELIST, query)
    assert response.status_code == 200
    return sorted(event.user_id for event in response.context["cl"].result_list)


def test_the_admin_lists_searches_and_filters_events(superuser_client, events):
    assert listed(superuser_client) == ["member-0", "member-1", "member-2"]
    assert listed(superuser_client, q="event-1") == ["member-1"]
    assert listed(superuser_client, event_type="booking") == ["member-0"]
    assert listed(superuser_client, timestamp__year="2025", timestamp__month="3") == ["member-2"]


def test_an_events_page_opens_by_its_id(superuser_client, events):
    event = events[1]
    response = superuser_client.get(reverse("admin:events_usageevent_change", args=[event.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert ">member-1<" in html
    assert ">event-1<" in html
    missing = reverse("admin:events_usageevent_change", args=[events[-1].pk + 1000])
    assert superuser_client.get(missing).status_code == 302  # "does not exist", to the index
