"""The admin reads usage events, sessions and payments on both databases (partitioned on
PostgreSQL): the list, its search, filters and dates, and one row's page by its id."""

from datetime import UTC, datetime

import pytest
from django.test import Client
from django.urls import reverse

from accounts.tests.factories import UserFactory
from events.models import EquipmentUsageLog, RevenueAnalytics, UsageEvent

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


def payment(n: int, moment: datetime) -> RevenueAnalytics:
    return RevenueAnalytics(transaction_id=f"t-{n}", timestamp=moment, revenue_source="other",
                            amount=1)  # fmt: skip


def session(n: int, moment: datetime) -> EquipmentUsageLog:
    return EquipmentUsageLog(equipment_id=f"laser-{n}", user_id="u", duration_minutes=5,
                             session_id=f"s-{n}", start_time=moment)  # fmt: skip


@pytest.mark.parametrize(
    ("make", "time", "shown"),
    [(payment, "timestamp", ">t-1<"), (session, "start_time", ">laser-1<")],
)
def test_fact_rows_list_by_month_and_open_by_their_id(
    superuser_client, organization, make, time, shown
):
    rows = [make(n, datetime(2025, n, 10, tzinfo=UTC)) for n in (1, 3)]
    for row in rows:
        row.organization = organization
        row.save()
    name = type(rows[0])._meta.model_name
    changelist = reverse(f"admin:events_{name}_changelist")
    january = superuser_client.get(changelist, {f"{time}__year": "2025", f"{time}__month": "1"})
    assert list(january.context["cl"].result_list) == rows[:1]
    page = superuser_client.get(reverse(f"admin:events_{name}_change", args=[rows[0].pk]))
    assert page.status_code == 200
    assert shown in page.content.decode()
