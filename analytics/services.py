"""Writing analytics roll-ups: dirty-day marks at ingest, snapshot refresh, cache version."""

import time
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from functools import reduce
from operator import or_
from zoneinfo import ZoneInfo

from django.core.cache import cache
from django.db import transaction
from django.db.models import Max, Q
from django.utils import timezone

from accounts.models import Organization
from analytics.cache import cache_version_key
from analytics.models import AnalyticsDirtyDay, AnalyticsSnapshot, AnalyticsUser
from analytics.rollups import UserSet, daily_metrics_compute, user_numbers_read

# Clearing marks by (id, marked_at) pairs: a flat OR per chunk, since SQLite refuses deeply
# nested expressions.
_CLEAR_CHUNK = 200


def data_received(*, organization: Organization, moments: Iterable[datetime | date]) -> None:
    """New events or facts were stored: mark their local days dirty (a date is already local)
    and, once committed, make the organisation's cached answers stale."""
    zone = ZoneInfo(organization.time_zone)
    days = {
        moment.astimezone(zone).date() if isinstance(moment, datetime) else moment
        for moment in moments
    }
    dirty_days_mark(organization=organization, days=days)
    transaction.on_commit(lambda: analytics_cache_version_bump(organization=organization))


def dirty_days_mark(*, organization: Organization, days: Iterable[date]) -> None:
    now = timezone.now()
    marks = [AnalyticsDirtyDay(organization=organization, date=day, marked_at=now) for day in days]
    AnalyticsDirtyDay.objects.bulk_create(
        marks, update_conflicts=True, unique_fields=["organization", "date"],
        update_fields=["marked_at"],
    )  # fmt: skip


def analytics_cache_version_bump(*, organization: Organization) -> None:
    key = cache_version_key(organization)
    try:
        cache.incr(key)
    except ValueError:
        # Lost or never set: a fresh number no earlier version can have had.
        cache.add(key, time.time_ns(), timeout=None)


def snapshots_refresh(*, organization: Organization | None = None) -> int:
    """Recompute the snapshots of every dirty day (of one organisation, or of all) and clear
    those marks. Idempotent: with no dirty days it writes nothing. Returns the days refreshed."""
    marks = AnalyticsDirtyDay.objects.all()
    if organization is not None:
        marks = marks.filter(organization=organization)
    by_organization: dict[int, list[tuple[int, date, datetime]]] = {}
    for pk, organization_id, day, marked_at in marks.values_list(
        "pk", "organization_id", "date", "marked_at"
    ):
        by_organization.setdefault(organization_id, []).append((pk, day, marked_at))
    for organization_id, seen in by_organization.items():
        _organization_refresh(Organization.objects.get(pk=organization_id), seen)
    return sum(len(seen) for seen in by_organization.values())


@transaction.atomic
def _organization_refresh(
    organization: Organization, seen: list[tuple[int, date, datetime]]
) -> None:
    days = {day for _, day, _ in seen}
    values = daily_metrics_compute(
        organization=organization, days=days, user_numbers=user_numbers_assign
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
    for start in range(0, len(seen), _CLEAR_CHUNK):
        chunk = seen[start : start + _CLEAR_CHUNK]
        unchanged = reduce(or_, (Q(pk=pk, marked_at=marked_at) for pk, _, marked_at in chunk))
        AnalyticsDirtyDay.objects.filter(unchanged).delete()


def user_numbers_assign(organization: Organization, user_ids: set[str]) -> dict[str, int]:
    """The users' bitmap numbers, numbering the new ones after the highest; the organisation's
    row is locked so two refreshes never hand out the same number."""
    Organization.objects.select_for_update().filter(pk=organization.pk).exists()
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
    dirty_days_mark(organization=organization, days=days)
    refreshed = snapshots_refresh(organization=organization)
    analytics_cache_version_bump(organization=organization)
    return refreshed
