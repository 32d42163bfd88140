"""Writing analytics roll-ups: dirty-day marks and live counters at ingest, snapshot refresh,
cache version."""

import time
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from functools import partial, reduce
from operator import or_
from typing import Any
from zoneinfo import ZoneInfo

from django.core.cache import cache
from django.db import transaction
from django.db.models import Max, Q
from django.utils import timezone

from accounts.models import Organization
from analytics import counters
from analytics.cache import cache_version_key, organization_today, send_once
from analytics.models import AnalyticsDirtyDay, AnalyticsSnapshot, AnalyticsUser
from analytics.rollups import UserSet, daily_metrics_compute, user_numbers_read

# Seconds between a batch and the fold of its pending counts: the batches of that while are
# folded by one task.
FOLD_DELAY = 2

# Clearing marks by (id, marked_at) pairs: a flat OR per chunk, since SQLite refuses deeply
# nested expressions.
_CLEAR_CHUNK = 200


def data_received(*, organization: Organization, moments: Iterable[datetime | date]) -> None:
    """New facts were stored: mark their local days dirty (a date is already local) and, once
    committed, make the organisation's cached answers stale (served while refreshed, see
    `analytics.cache`)."""
    zone = ZoneInfo(organization.time_zone)
    days = {
        moment.astimezone(zone).date() if isinstance(moment, datetime) else moment
        for moment in moments
    }
    dirty_days_mark(organization=organization, days=days)
    transaction.on_commit(lambda: analytics_cache_version_bump(organization=organization))


def events_received(
    *, organization: Organization, rows: list[dict[str, Any]], stored: int, since: datetime
) -> None:
    """A batch of usage events was stored (`rows` as sent, `stored` of them new, received
    since `since`): its days marked dirty first (the lock a recount takes too), then the live
    counters' pending row appended, in the batch's transaction; their fold is sent once it
    commits."""
    data_received(organization=organization, moments=[row["timestamp"] for row in rows])
    counters.events_count(organization=organization, rows=rows, stored=stored, since=since)
    transaction.on_commit(lambda: counters_fold_send(organization=organization))


def counters_fold_send(*, organization: Organization) -> None:
    """Sends one `analytics.fold_live_counters` for the organisation per FOLD_DELAY seconds.
    A broker that refuses loses nothing: readers count pending rows, and the snapshot refresh
    (every 5 minutes) folds what is left."""
    from analytics.tasks import fold_live_counters  # the task module imports this one

    send_once(
        f"analytics:fold-sent:{organization.pk}",
        partial(fold_live_counters.apply_async, (str(organization.pk),), countdown=FOLD_DELAY,
                retry=False),
        seconds=FOLD_DELAY,
    )  # fmt: skip


def dirty_days_mark(
    *, organization: Organization, days: Iterable[date], recount: bool = False
) -> None:
    """In date order, so two batches lock the same marks in the same order. `recount`: the
    days' live counters are to be counted again from the raw rows (data written behind the
    ingestion's back)."""
    now = timezone.now()
    marks = [AnalyticsDirtyDay(organization=organization, date=day, marked_at=now,
                               recount=recount) for day in sorted(days)]  # fmt: skip
    AnalyticsDirtyDay.objects.bulk_create(
        marks, update_conflicts=True, unique_fields=["organization", "date"],
        update_fields=["marked_at", "recount"] if recount else ["marked_at"],
    )  # fmt: skip


def analytics_cache_version_bump(*, organization: Organization) -> None:
    key = cache_version_key(organization)
    try:
        cache.incr(key)
    except ValueError:
        # Lost or never set: a fresh number no earlier version can have had.
        cache.add(key, time.time_ns(), timeout=None)


def snapshots_refresh(*, organization: Organization | None = None) -> int:
    """Recompute the snapshots of every dirty past day (of one organisation, or of all) and
    clear those marks; today stays dirty and is read from its live counters until it is past,
    unless it is marked for a recount. Idempotent: with no such days it writes nothing.
    Returns the days refreshed. Pending live counts are folded first."""
    owners = [organization] if organization is not None else counters.organizations_pending()
    for owner in owners:
        counters.counters_fold(organization=owner)
    marks = AnalyticsDirtyDay.objects.all()
    if organization is not None:
        marks = marks.filter(organization=organization)
    by_organization: dict[int, list[tuple[int, date, datetime, bool]]] = {}
    for pk, organization_id, day, marked_at, recount in marks.values_list(
        "pk", "organization_id", "date", "marked_at", "recount"
    ):
        by_organization.setdefault(organization_id, []).append((pk, day, marked_at, recount))
    refreshed = 0
    for organization_id, marked in by_organization.items():
        owner = Organization.objects.get(pk=organization_id)
        today = organization_today(owner)
        seen = [(pk, day, at) for pk, day, at, recount in marked if day < today or recount]
        if seen:
            _organization_refresh(owner, seen)
            refreshed += len(seen)
    return refreshed


@transaction.atomic
def _organization_refresh(
    organization: Organization, seen: list[tuple[int, date, datetime]]
) -> None:
    # The marks' row locks first: a batch of these days waits until this recount is written,
    # and one committed before is in the raw rows read below.
    pks = [pk for pk, _, _ in seen]
    list(AnalyticsDirtyDay.objects.select_for_update().filter(pk__in=pks).order_by("date"))
    days = {day for _, day, _ in seen}
    pairs: list[tuple[date, str]] = []
    values = daily_metrics_compute(
        organization=organization, days=days, user_numbers=user_numbers_assign, user_pairs=pairs
    )
    now = timezone.now()
    snapshots = [
        AnalyticsSnapshot(organization=organization, date=day, metric=metric, computed_at=now,
                          value=value.to_snapshot() if isinstance(value, UserSet) else value)
        for day, metrics in values.items()
        for metric, value in metrics.items()
    ]  # fmt: skip
    AnalyticsSnapshot.objects.bulk_create(
        snapshots, update_conflicts=True, unique_fields=["organization", "date", "metric"],
        update_fields=["value", "computed_at"],
    )  # fmt: skip
    counters.counters_rebuild(organization=organization, metrics=values, pairs=pairs)
    today = organization_today(organization)
    past = [mark for mark in seen if mark[1] < today]
    for start in range(0, len(past), _CLEAR_CHUNK):
        chunk = past[start : start + _CLEAR_CHUNK]
        unchanged = reduce(or_, (Q(pk=pk, marked_at=marked_at) for pk, _, marked_at in chunk))
        AnalyticsDirtyDay.objects.filter(unchanged).delete()
    # Today stays dirty (snapshotted once past); its counters are exact again.
    AnalyticsDirtyDay.objects.filter(pk__in=pks, date__gte=today).update(recount=False)


def user_numbers_assign(organization: Organization, user_ids: set[str]) -> dict[str, int]:
    """The users' bitmap numbers, numbering the new ones after the highest; the organisation's
    row is locked so two refreshes never hand out the same number. NO KEY UPDATE: a batch
    being stored holds a KEY SHARE lock on the row (its rows' foreign key) and may wait for
    the dirty marks the refresh holds; FOR UPDATE would make that a deadlock."""
    Organization.objects.select_for_update(no_key=True).filter(pk=organization.pk).exists()
    numbers = user_numbers_read(organization, user_ids)
    missing = sorted(user_ids - numbers.keys())
    if missing:
        top = AnalyticsUser.objects.filter(organization=organization).aggregate(Max("number"))
        first = 0 if top["number__max"] is None else top["number__max"] + 1
        new = {user_id: first + offset for offset, user_id in enumerate(missing)}
        AnalyticsUser.objects.bulk_create(
            [AnalyticsUser(organization=organization, user_id=u, number=n) for u, n in new.items()],
            batch_size=2000,
        )
        numbers.update(new)
    return numbers


def snapshots_rebuild(*, organization: Organization, start_date: date, end_date: date) -> int:
    """Recompute every day of the range whether or not it received data (a backfill after a
    bulk load or a change in how metrics are computed); returns the days refreshed."""
    days = [start_date + timedelta(days=n) for n in range((end_date - start_date).days + 1)]
    dirty_days_mark(organization=organization, days=days, recount=True)
    refreshed = snapshots_refresh(organization=organization)
    analytics_cache_version_bump(organization=organization)
    return refreshed
