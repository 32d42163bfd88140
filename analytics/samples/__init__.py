"""A sample makerspace year for an organisation: events, sessions, inventory, projects, revenue.

The year is the `days` days before today in the organisation's time zone: the dates move with
the day it is loaded, the shape (weekly rhythm, seasons, amounts, order of events) is the same
for the same seed, days and events.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.db import connections, transaction
from django.db.models import Max, Min

from accounts.models import Organization
from analytics.services import analytics_cache_version_bump, dirty_days_mark
from events.models import (
    EquipmentUsageLog,
    InventoryAnalytics,
    ProjectAnalytics,
    RevenueAnalytics,
    UsageEvent,
)

from .catalogue import OPENING_HOURS
from .generate import COLUMNS, Makerspace
from .writers import BatchWriter

BATCH_SIZE = 5000
MODELS = {
    "events": UsageEvent,
    "sessions": EquipmentUsageLog,
    "inventory": InventoryAnalytics,
    "projects": ProjectAnalytics,
    "revenue": RevenueAnalytics,
}
COPIED = {"events", "sessions"}  # the tables that grow with --events


@dataclass(frozen=True)
class SampleLoad:
    counts: dict[str, int]
    first_day: str
    last_day: str


def sample_analytics_exists(*, organization: Organization) -> bool:
    return any(
        model.objects.filter(organization=organization).exists() for model in MODELS.values()
    )


@transaction.atomic
def sample_analytics_clear(*, organization: Organization) -> int:
    """Deletes the organisation's events and the four fact tables; returns the rows deleted."""
    _days_changed(organization=organization, days=_days_stored(organization=organization))
    return sum(
        model.objects.filter(organization=organization).delete()[0] for model in MODELS.values()
    )


def _statistics_refresh(using: str) -> None:
    """A bulk load leaves PostgreSQL's planner without statistics for the new rows (until
    autovacuum gets to them): without them it may scan an organisation's every event."""
    connection = connections[using]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            for model in MODELS.values():
                cursor.execute(f"ANALYZE {connection.ops.quote_name(model._meta.db_table)}")


def _days_stored(*, organization: Organization) -> list[date]:
    zone = ZoneInfo(organization.time_zone)
    bounds = []
    for model, field in ((UsageEvent, "timestamp"), (RevenueAnalytics, "timestamp")):
        span = model.objects.filter(organization=organization).aggregate(Min(field), Max(field))
        bounds += [moment.astimezone(zone).date() for moment in span.values() if moment]
    if not bounds:
        return []
    first, last = min(bounds), max(bounds)
    return [first + timedelta(days=offset) for offset in range((last - first).days + 1)]


def _days_changed(*, organization: Organization, days: list[date]) -> None:
    """The roll-ups of these days are stale, their live counters too (written behind the
    ingestion's back): recounted by the snapshot task, not here."""
    if days:
        dirty_days_mark(organization=organization, days=days, recount=True)
        transaction.on_commit(lambda: analytics_cache_version_bump(organization=organization))


@transaction.atomic
def sample_analytics_load(
    *,
    organization: Organization,
    days: int = 365,
    events: int = 50_000,
    seed: int = 42,
    progress: Callable[[int], None] | None = None,
    using: str = "default",
) -> SampleLoad:
    if not organization.opening_hours:
        organization.opening_hours = OPENING_HOURS
        organization.save(update_fields=["opening_hours"])
    zone = ZoneInfo(organization.time_zone)
    space = Makerspace(
        seed=seed, days=days, events=events, end=datetime.now(zone).date(), zone=zone
    )
    writers = {
        kind: BatchWriter(
            model=model,
            columns=COLUMNS[kind],
            organization_id=organization.pk,
            using=using,
            batch_size=BATCH_SIZE,
            copy=kind in COPIED,
        )
        for kind, model in MODELS.items()
    }
    # Projects first: members' visits refer to them.
    writers["projects"].add(space.projects_rows())
    for day in space.days_rows():
        for kind in ("events", "sessions", "inventory", "revenue"):
            writers[kind].add(getattr(day, kind))
        if progress:
            progress(writers["events"].written + len(writers["events"].pending))
    for writer in writers.values():
        writer.flush()
    _statistics_refresh(using)
    _days_changed(organization=organization, days=space.days)
    return SampleLoad(
        counts={kind: writer.written for kind, writer in writers.items()},
        first_day=space.days[0].isoformat(),
        last_day=space.days[-1].isoformat(),
    )
