"""Dashboards under live ingestion: counters kept by the ingestion, answers served stale for at
most ANALYTICS_MAX_STALENESS seconds while a background task refreshes them."""

import threading
from collections import Counter
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.cache import cache
from django.db import connection
from django.db.models import Count
from django.db.models.functions import ExtractHour, TruncDate
from django.test.utils import CaptureQueriesContext

from analytics.counters import BatchInFlight, counters_fold, events_count
from analytics.models import (
    AnalyticsDailyCount,
    AnalyticsDailyUser,
    AnalyticsDirtyDay,
    AnalyticsPendingCount,
    AnalyticsSnapshot,
)
from analytics.rollups import daily_metrics_compute
from analytics.services import dirty_days_mark, snapshots_refresh
from analytics.tasks import fold_live_counters, refresh_answer
from analytics.tests.conftest import NOW, event, events_post, generated_events
from config.celery import app
from events.models import UsageEvent
from events.services import events_ingest

DASHBOARD = "/api/v1/analytics/dashboard"
QUERY = {"start_date": "2025-03-01", "end_date": "2025-04-02"}
# What a dashboard answer computed from roll-ups reads; a stale answer reads none of it.
ROLLUP_TABLES = ("events_usageevent", "analytics_analyticsdailycount",
                 "analytics_analyticssnapshot", "analytics_analyticsdailyuser",
                 "analytics_analyticspendingcount")  # fmt: skip
COUNTERS = ("analytics_analyticsdailycount", "analytics_analyticsdailyuser")


@pytest.fixture(autouse=True)
def empty_cache():
    cache.clear()
    analytics_messages()  # none left from another test


def with_ids(events: list[dict], prefix: str) -> list[dict]:
    return [{**item, "event_id": f"{prefix}-{n}"} for n, item in enumerate(events)]


def ingest(organization, events: list[dict], batch: int = 100) -> None:
    for start in range(0, len(events), batch):
        events_ingest(
            organization=organization, events=events[start : start + batch], default_user_id=None
        )


def group_by(organization) -> dict:
    """Events per local day, type and hour, straight from the raw rows."""
    zone = ZoneInfo(organization.time_zone)
    rows = (
        UsageEvent.objects.filter(organization=organization)
        .annotate(
            day=TruncDate("timestamp", tzinfo=zone), hour=ExtractHour("timestamp", tzinfo=zone)
        )
        .values("day", "event_type", "hour")
        .annotate(n=Count("id"))
    )
    return {(row["day"], row["event_type"], row["hour"]): row["n"] for row in rows}


def counted(organization) -> dict:
    """The same figures from the live counters, once the pending counts are folded in: by type
    per day, spread over the day's hours (both sums must agree, so the check is exact on both
    dimensions)."""
    counters_fold(organization=organization)
    assert not AnalyticsPendingCount.objects.filter(organization=organization).exists()
    by_type, by_hour = Counter(), Counter()
    for day, metric, key, count in AnalyticsDailyCount.objects.filter(
        organization=organization
    ).values_list("date", "metric", "key", "count"):
        if metric == "events_by_type":
            by_type[day, key] += count
        elif metric == "events_by_hour":
            by_hour[day, int(key)] += count
    return {"by_type": +by_type, "by_hour": +by_hour}


def raw_split(organization) -> dict:
    by_type, by_hour = Counter(), Counter()
    for (day, event_type, hour), n in group_by(organization).items():
        by_type[day, event_type] += n
        by_hour[day, hour] += n
    return {"by_type": by_type, "by_hour": by_hour}


def analytics_messages() -> list[tuple[str, list]]:
    """(task, args) of every message waiting on the analytics queue, taken off it."""
    found = []
    with (
        app.connection_for_read() as broker,
        broker.SimpleQueue(app.amqp.queues["analytics"]) as queue,
    ):
        while True:
            try:
                message = queue.get(timeout=0.2)
            except queue.Empty:
                return found
            found.append((message.headers["task"], message.payload[0]))
            message.ack()


def assert_live_equals_raw(organization) -> None:
    days = {day for day, _, _ in group_by(organization)}
    live = daily_metrics_compute(organization=organization, days=days, counted=True)
    raw = daily_metrics_compute(organization=organization, days=days)
    for day in days:
        for metric in ("events", "logins", "events_by_type", "events_by_category"):
            assert live[day][metric] == raw[day][metric], (day, metric)
        assert len(live[day]["active_users"]) == len(raw[day]["active_users"])


def test_counters_equal_a_group_by_over_the_raw_events(organization, frozen_now):
    ingest(organization, with_ids(generated_events(count=600), "g"))
    ingest(organization, [event(NOW, user_id="g-1")])  # a user seen in two batches of a day
    assert_live_equals_raw(organization)  # pending counts read with the counters
    assert counted(organization) == raw_split(organization)
    assert_live_equals_raw(organization)  # the same once folded


def test_a_batch_appends_one_pending_row_and_locks_no_counter(organization, frozen_now):
    ingest(organization, with_ids(generated_events(count=300), "p"), batch=100)
    counters_fold(organization=organization)
    with CaptureQueriesContext(connection) as queries:
        ingest(organization, with_ids(generated_events(seed=9, count=100), "q"), batch=1000)
    assert [q["sql"] for q in queries if any(table in q["sql"] for table in COUNTERS)] == []
    assert AnalyticsPendingCount.objects.filter(organization=organization).count() == 1
    assert_live_equals_raw(organization)
    assert fold_live_counters(str(organization.pk)) == 1  # what the worker does
    assert not AnalyticsPendingCount.objects.exists()
    assert_live_equals_raw(organization)
    assert counted(organization) == raw_split(organization)


def test_one_fold_is_sent_for_the_batches_of_a_couple_of_seconds(
    admin_client_api, organization, frozen_now, django_capture_on_commit_callbacks
):
    for n in range(3):
        events_post(admin_client_api, [event(NOW, user_id=f"f{n}")],
                    django_capture_on_commit_callbacks)  # fmt: skip
    sent = [args for task, args in analytics_messages() if task == "analytics.fold_live_counters"]
    assert sent == [[str(organization.pk)]]
    assert AnalyticsPendingCount.objects.count() == 3
    fold_live_counters(*sent[0])
    assert not AnalyticsPendingCount.objects.exists()
    assert AnalyticsDailyUser.objects.filter(date=NOW.date()).count() == 3


def test_a_recount_of_today_counts_its_pending_events_once(organization, frozen_now):
    ingest(organization, with_ids(generated_events(count=200, days=1), "t"))
    ingest(organization, [event(NOW, user_id="t-late")])
    assert AnalyticsPendingCount.objects.exists()
    dirty_days_mark(organization=organization, days=[NOW.date()], recount=True)
    snapshots_refresh(organization=organization)
    assert not AnalyticsPendingCount.objects.exists()
    assert counted(organization) == raw_split(organization)
    assert_live_equals_raw(organization)


def test_a_batch_sent_again_or_repeating_an_id_is_counted_once(organization, frozen_now):
    events = with_ids(generated_events(count=200), "r")
    ingest(organization, events)
    ingest(organization, events)  # a client's retry
    ingest(organization, events[:50] + events[:50])  # a batch repeating its own ids
    assert UsageEvent.objects.filter(organization=organization).count() == len(events)
    assert counted(organization) == raw_split(organization)
    assert sum(counted(organization)["by_type"].values()) == len(events)


def test_events_without_a_timestamp_count_on_the_day_they_are_stored(organization, frozen_now):
    undated = {"event_type": "login", "event_category": "authentication", "user_id": "u1"}
    ingest(organization, [undated, undated])
    assert counted(organization) == raw_split(organization)
    assert set(UsageEvent.objects.values_list("timestamp", flat=True)) == {NOW}


def test_an_id_stored_by_another_request_at_the_same_moment_refuses_the_batch(
    organization, frozen_now
):
    """The batch cannot tell whose row it is: refused whole, it is counted right when sent
    again."""
    UsageEvent.objects.create(
        organization=organization, user_id="u1", event_type="login",
        event_category="authentication", timestamp=NOW, event_id="same",
    )  # fmt: skip
    row = {"event_id": "same", "event_type": "login", "event_category": "authentication",
           "user_id": "u1", "timestamp": NOW}  # fmt: skip
    with pytest.raises(BatchInFlight):
        events_count(organization=organization, rows=[row], stored=0, since=NOW)
    assert not AnalyticsDailyCount.objects.exists()


def test_late_events_for_an_old_day_are_counted(
    admin_client_api, organization, frozen_now, settings, django_capture_on_commit_callbacks
):
    settings.ANALYTICS_MAX_STALENESS = 0
    old = NOW - timedelta(days=20)
    ingest(organization, [event(old, user_id="early")])
    snapshots_refresh(organization=organization)
    assert not AnalyticsDirtyDay.objects.filter(date__lt=NOW.date()).exists()
    before = admin_client_api.get(DASHBOARD, QUERY).json()["usage"]

    events_post(admin_client_api, [event(old, user_id="late")], django_capture_on_commit_callbacks)
    after = admin_client_api.get(DASHBOARD, QUERY).json()["usage"]
    assert after["totals"]["events"] == before["totals"]["events"] + 1
    assert after["totals"]["active_users"] == before["totals"]["active_users"] + 1
    snapshots_refresh(organization=organization)  # the day snapshotted again, from raw rows
    cache.clear()
    assert admin_client_api.get(DASHBOARD, QUERY).json()["usage"] == after
    assert counted(organization) == raw_split(organization)


def test_today_stays_dirty_and_is_read_from_its_counters(organization, frozen_now):
    ingest(organization, [event(NOW), event(NOW - timedelta(days=3))])
    assert snapshots_refresh(organization=organization) == 1  # the past day only
    assert AnalyticsDirtyDay.objects.filter(date=NOW.date()).exists()
    assert not AnalyticsSnapshot.objects.filter(date=NOW.date()).exists()


def test_during_ingestion_the_dashboard_serves_the_stale_answer_and_refreshes_it_once(
    admin_client_api, organization, frozen_now, settings, django_capture_on_commit_callbacks
):
    settings.ANALYTICS_MAX_STALENESS = 60
    events_post(admin_client_api, [event(NOW)], django_capture_on_commit_callbacks)
    first = admin_client_api.get(DASHBOARD, QUERY).json()
    for second in range(3):
        frozen_now.shift(timedelta(seconds=5))
        events_post(admin_client_api, [event(NOW, user_id=f"n{second}")],
                    django_capture_on_commit_callbacks)  # fmt: skip
        with CaptureQueriesContext(connection) as queries:
            answer = admin_client_api.get(DASHBOARD, QUERY).json()
        assert answer == first
        read = [q["sql"] for q in queries if any(t in q["sql"] for t in ROLLUP_TABLES)]
        assert read == []

    sent = [m for m in analytics_messages() if m[0] != "analytics.fold_live_counters"]
    assert [task for task, _ in sent] == ["analytics.refresh_answer"]
    refresh_answer(*sent[0][1])  # what the worker on the analytics queue does
    with CaptureQueriesContext(connection) as queries:
        fresh = admin_client_api.get(DASHBOARD, QUERY).json()
    assert not [q for q in queries if "events_usageevent" in q["sql"]]
    assert fresh["usage"]["totals"]["events"] == first["usage"]["totals"]["events"] + 3
    assert fresh["usage"]["totals"]["active_users"] == 4
    assert fresh["computed_at"] != first["computed_at"]


def test_after_the_window_the_answer_equals_a_group_by(
    admin_client_api, organization, frozen_now, settings, django_capture_on_commit_callbacks
):
    settings.ANALYTICS_MAX_STALENESS = 60
    events_post(admin_client_api, with_ids(generated_events(count=100), "a"),
                django_capture_on_commit_callbacks)  # fmt: skip
    admin_client_api.get(DASHBOARD, QUERY)
    events_post(admin_client_api, with_ids(generated_events(seed=3, count=100), "b"),
                django_capture_on_commit_callbacks)  # fmt: skip
    frozen_now.shift(timedelta(seconds=61))
    usage = admin_client_api.get(DASHBOARD, QUERY).json()["usage"]
    in_range = {key: n for key, n in group_by(organization).items()
                if QUERY["start_date"] <= key[0].isoformat() <= QUERY["end_date"]}  # fmt: skip
    assert usage["totals"]["events"] == sum(in_range.values())
    by_type = Counter()
    for (_, event_type, _), n in in_range.items():
        by_type[event_type] += n
    assert usage["events_by_type"] == dict(by_type)


def test_a_stale_answer_older_than_the_bound_is_computed_again(
    admin_client_api, organization, frozen_now, settings, django_capture_on_commit_callbacks
):
    settings.ANALYTICS_MAX_STALENESS = 10
    first = admin_client_api.get(DASHBOARD, QUERY).json()
    events_post(admin_client_api, [event(NOW)], django_capture_on_commit_callbacks)
    frozen_now.shift(timedelta(seconds=9))
    assert admin_client_api.get(DASHBOARD, QUERY).json() == first
    frozen_now.shift(timedelta(seconds=2))
    assert admin_client_api.get(DASHBOARD, QUERY).json()["usage"]["totals"]["events"] == 1


def in_thread(failures: list, work, *args) -> threading.Thread:
    """A thread running work(*args) on its own connection; its error (a deadlock, say) is kept
    for the test to fail on."""

    def run() -> None:
        try:
            work(*args)
        except Exception as error:
            failures.append(error)
        finally:
            connection.close()

    return threading.Thread(target=run)


def client_send(organization, batches: list[list[dict]]) -> None:
    for batch in batches:
        for _ in range(5):
            try:
                events_ingest(organization=organization, events=batch, default_user_id=None)
                break
            except BatchInFlight:
                continue  # sent again, as a client does on 409


def refreshes(organization) -> None:
    for _ in range(5):
        snapshots_refresh(organization=organization)
        counters_fold(organization=organization)  # what the fold task does meanwhile


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL: concurrent writers")
@pytest.mark.django_db(transaction=True)
def test_concurrent_batches_with_shared_ids_and_a_refresh_count_exactly(organization):
    """Four clients send overlapping batches (every event twice, in different batches) while
    the snapshot refresh recounts the past days and pending counts are folded: the counters
    end equal to a GROUP BY."""
    events = with_ids(generated_events(count=1200, days=10), "c")
    batches = [events[start : start + 100] for start in range(0, len(events), 100)]
    work = batches + batches[::-1]
    failures = []
    threads = [in_thread(failures, client_send, organization, work[n::4]) for n in range(4)]
    threads.append(in_thread(failures, refreshes, organization))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert UsageEvent.objects.filter(organization=organization).count() == len(events)
    assert counted(organization) == raw_split(organization)
