from datetime import date, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_celery_beat.models import PeriodicTask

from analytics.cache import analytics_cache_version
from analytics.models import AnalyticsDirtyDay, AnalyticsSnapshot
from analytics.services import (
    _organization_refresh,
    dirty_days_mark,
    snapshots_rebuild,
    snapshots_refresh,
)
from analytics.tasks import refresh_snapshots
from analytics.tests.conftest import NOW, event, events_post
from events.models import UsageEvent
from events.services import events_ingest

USAGE = "/api/v1/analytics/usage"


def _computed_at_by_day(organization) -> dict[date, set[datetime]]:
    days: dict[date, set[datetime]] = {}
    for day, computed_at in AnalyticsSnapshot.objects.filter(organization=organization).values_list(
        "date", "computed_at"
    ):
        days.setdefault(day, set()).add(computed_at)
    return days


def test_refresh_recomputes_only_dirty_days_and_twice_changes_nothing(
    admin_client_api, organization, frozen_now, django_capture_on_commit_callbacks
):
    first = [event(NOW - timedelta(days=3)), event(NOW - timedelta(days=2), "logout")]
    events_post(admin_client_api, first, django_capture_on_commit_callbacks)
    assert snapshots_refresh(organization=organization) == 2
    before = _computed_at_by_day(organization)

    frozen_now.shift(timedelta(minutes=5))
    events_post(
        admin_client_api,
        [event(NOW - timedelta(days=2), "logout", "u2")],
        django_capture_on_commit_callbacks,
    )
    assert snapshots_refresh(organization=organization) == 1
    after = _computed_at_by_day(organization)
    three_days_ago, two_days_ago = (
        (NOW - timedelta(days=3)).date(),
        (NOW - timedelta(days=2)).date(),
    )
    assert after[three_days_ago] == before[three_days_ago]
    assert after[two_days_ago] != before[two_days_ago]
    snapshot = AnalyticsSnapshot.objects.get(
        organization=organization, date=two_days_ago, metric="active_users"
    )
    assert int(snapshot.value, 16).bit_count() == 2  # a bitmap of user numbers

    frozen_now.shift(timedelta(minutes=5))
    assert snapshots_refresh(organization=organization) == 0
    assert _computed_at_by_day(organization) == after
    assert not AnalyticsDirtyDay.objects.exists()


def test_refresh_costs_the_same_queries_for_one_dirty_day_as_for_many(
    admin_client_api,
    organization,
    other_organization,
    frozen_now,
    django_capture_on_commit_callbacks,
):
    events_post(
        admin_client_api, [event(NOW - timedelta(days=1))], django_capture_on_commit_callbacks
    )
    with CaptureQueriesContext(connection) as one_day:
        snapshots_refresh(organization=organization)
    many = [event(NOW - timedelta(days=n), user_id=f"u{n}") for n in range(1, 30)]
    events_post(admin_client_api, many, django_capture_on_commit_callbacks)
    with CaptureQueriesContext(connection) as many_days:
        assert snapshots_refresh(organization=organization) == 29
    # The snapshot upsert is split only by the database's parameter limit (SQLite: 999).
    assert _statements(many_days) == _statements(one_day)


def _statements(captured) -> list[str]:
    verbs = [query["sql"].split()[0] for query in captured]
    return [verb for verb in verbs if verb in ("SELECT", "UPDATE", "DELETE")]


def test_a_mark_changed_during_a_refresh_stays_dirty(organization, frozen_now):
    day = date(2025, 4, 1)
    dirty_days_mark(organization=organization, days=[day])
    mark = AnalyticsDirtyDay.objects.get()
    AnalyticsDirtyDay.objects.filter(pk=mark.pk).update(marked_at=mark.marked_at + timedelta(1))
    # The refresh read the old mark; new data then marked the day again.
    _organization_refresh(organization, [(mark.pk, day, mark.marked_at)])
    assert AnalyticsDirtyDay.objects.filter(pk=mark.pk).exists()


def test_the_task_refreshes_every_organisation_and_is_scheduled(organization, frozen_now):
    UsageEvent.objects.create(
        organization=organization,
        user_id="u1",
        event_type="login",
        event_category="authentication",
        timestamp=NOW - timedelta(days=1),
    )
    AnalyticsDirtyDay.objects.create(
        organization=organization, date=date(2025, 4, 1), marked_at=NOW
    )
    assert refresh_snapshots() == 1
    assert AnalyticsSnapshot.objects.get(date=date(2025, 4, 1), metric="events").value == 1
    task = PeriodicTask.objects.get(task="analytics.refresh_snapshots")
    assert (task.interval.every, task.interval.period) == (5, "minutes")


def test_answers_are_cached_until_new_data_arrives(
    admin_client_api, organization, frozen_now, settings, django_capture_on_commit_callbacks
):
    settings.ANALYTICS_MAX_STALENESS = 0  # new data shows at once
    query = {"start_date": "2025-03-30", "end_date": "2025-04-02"}
    events_post(
        admin_client_api, [event(NOW - timedelta(days=1))], django_capture_on_commit_callbacks
    )
    first = admin_client_api.get(USAGE, query).json()
    # Written behind the ingestion's back: neither the cached answer nor the live counters
    # see it, until a backfill counts the days again from the raw rows.
    UsageEvent.objects.create(
        organization=organization,
        user_id="u9",
        event_type="login",
        event_category="authentication",
        timestamp=NOW,
    )
    frozen_now.shift(timedelta(seconds=30))
    assert admin_client_api.get(USAGE, query).json() == first

    version = analytics_cache_version(organization)
    events_post(admin_client_api, [event(NOW)], django_capture_on_commit_callbacks)
    assert analytics_cache_version(organization) != version
    fresh = admin_client_api.get(USAGE, query).json()
    assert fresh["totals"]["events"] == first["totals"]["events"] + 1
    assert fresh["computed_at"] != first["computed_at"]
    snapshots_rebuild(organization=organization, start_date=date(2025, 3, 30), end_date=NOW.date())
    recounted = admin_client_api.get(USAGE, query).json()
    assert recounted["totals"]["events"] == first["totals"]["events"] + 2


def test_new_data_in_another_organisation_keeps_this_ones_cache(
    organization, other_organization, frozen_now
):
    version = analytics_cache_version(organization)
    events_ingest(organization=other_organization, events=[event(NOW)], default_user_id=None)
    assert analytics_cache_version(organization) == version


def test_the_command_refreshes_dirty_days_or_backfills_a_range(
    admin_client_api, organization, frozen_now, django_capture_on_commit_callbacks
):
    from io import StringIO

    from django.core.management import CommandError, call_command

    events_post(
        admin_client_api, [event(NOW - timedelta(days=2))], django_capture_on_commit_callbacks
    )
    out = StringIO()
    call_command("refresh_analytics_snapshots", stdout=out)
    assert "Refreshed 1 " in out.getvalue()
    day = (NOW - timedelta(days=2)).date()
    AnalyticsSnapshot.objects.filter(date=day, metric="events").update(value=99)

    call_command("refresh_analytics_snapshots", "--org", organization.slug, stdout=out)
    assert AnalyticsSnapshot.objects.get(date=day, metric="events").value == 99  # not dirty
    call_command(
        "refresh_analytics_snapshots", "--org", organization.slug,
        "--start-date", str(day - timedelta(days=3)), "--end-date", str(day), stdout=out,
    )  # fmt: skip
    assert "Refreshed 4 " in out.getvalue()
    assert AnalyticsSnapshot.objects.get(date=day, metric="events").value == 1
    with pytest.raises(CommandError, match="needs --org"):
        call_command("refresh_analytics_snapshots", "--start-date", "2025-01-01",
                     "--end-date", "2025-01-02")  # fmt: skip
