"""Reading analytics: the facts of a range (snapshots for whole past days, the live counters
for today and for days not yet refreshed), turned into answers by `analytics.sections`, cached per
organisation and query. The answers read the analytics replica when one is configured and
fresh (config/db_router.py).

Every number comes from daily buckets, so an answer's cost follows the number of days asked
for, not the number of events. Active users over a week, a month or a range are the size of
the union of the days' user sets (exact, unlike a sum of daily counts). Projects are state,
not events: they are read from their own table, a row per project.
"""

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from functools import partial
from typing import Any

import msgspec
from django.conf import settings
from django.db.models import Count, Min, Q, TextField
from django.db.models.functions import Cast
from django.utils import timezone

from accounts.models import Organization
from analytics import mock, sections
from analytics.cache import answer_key, answer_store, cached_answer, organization_today
from analytics.models import AnalyticsDirtyDay, AnalyticsPendingCount, AnalyticsSnapshot
from analytics.rollups import DailyMetrics, UserSet, daily_metrics_compute, empty_day
from analytics.sections import Facts
from config.db_router import analytics_reads
from events.models import (
    EquipmentUsageLog,
    InventoryAnalytics,
    ProjectAnalytics,
    RevenueAnalytics,
    UsageEvent,
)

Metric = AnalyticsSnapshot.Metric


def daily_metrics_read(
    *,
    organization: Organization,
    start_date: date,
    end_date: date,
    metrics: Iterable[str] | None = None,
) -> DailyMetrics:
    """The range's days: snapshots for refreshed past days; for today and for days that
    received data since the last refresh, the live counters (and the fact tables' rows); days
    after today are empty. `metrics` limits
    the snapshot rows read (the others keep their empty values)."""
    today = organization_today(organization)
    days = [start_date + timedelta(days=n) for n in range((end_date - start_date).days + 1)]
    result: DailyMetrics = {day: empty_day() for day in days}
    snapshots = AnalyticsSnapshot.objects.filter(
        organization=organization, date__gte=start_date, date__lte=min(end_date, today)
    )
    if metrics is not None:
        snapshots = snapshots.filter(metric__in=list(metrics))
    # The values as JSON text, decoded by msgspec: a year's 4,000 of them in a quarter of the
    # time Django's JSONField takes with the json module.
    rows = snapshots.values_list("date", "metric", Cast("value", TextField()))
    for day, metric, text in rows.iterator(2000):
        value = msgspec.json.decode(text)
        result[day][metric] = (
            UserSet.from_snapshot(value) if metric == Metric.ACTIVE_USERS else value
        )
    dirty = AnalyticsDirtyDay.objects.filter(
        organization=organization, date__gte=start_date, date__lte=min(end_date, today)
    ).values_list("date", flat=True)
    live_days = set(dirty) | ({today} if start_date <= today <= end_date else set())
    result.update(daily_metrics_compute(organization=organization, days=live_days, counted=True))
    return result


# Everything the projects section reads of a project; the overview counts statuses only and
# leaves out the bill of materials (the largest part of a project's row).
PROJECT_FIELDS = (
    "project_id", "name", "status", "start_date", "end_date", "bom_cost", "bom_item_count",
    "bom_items",
)  # fmt: skip


def projects_read(
    *,
    organization: Organization,
    start_date: date,
    end_date: date,
    fields: Iterable[str] = PROJECT_FIELDS,
) -> list[dict]:
    """Projects open at some point in the range: started by its end, not ended before it."""
    return list(
        ProjectAnalytics.objects.filter(organization=organization, start_date__lte=end_date)
        .filter(Q(end_date__isnull=True) | Q(end_date__gte=start_date))
        .order_by("project_id")
        .values(*fields)
    )


def has_data(organization: Organization) -> bool:
    models = (UsageEvent, EquipmentUsageLog, InventoryAnalytics, ProjectAnalytics, RevenueAnalytics)
    return any(model.objects.filter(organization=organization).exists() for model in models)


# What each answer reads: snapshot metrics, the previous range (growth), the projects' fields.
_NEEDS: dict[str, tuple[set[str], bool, tuple[str, ...]]] = {
    "overview": (
        set(Metric) - {Metric.EVENTS_BY_CATEGORY, Metric.EVENTS_BY_HOUR}, False, ("status",)
    ),
    "usage": (
        {Metric.EVENTS, Metric.LOGINS, Metric.ACTIVE_USERS, Metric.EVENTS_BY_TYPE,
         Metric.EVENTS_BY_CATEGORY, Metric.EVENTS_BY_HOUR},
        False, (),
    ),
    "inventory": ({Metric.INVENTORY}, False, ()),
    "equipment": ({Metric.EQUIPMENT}, False, ()),
    "projects": (set(), False, PROJECT_FIELDS),
    "revenue": ({Metric.REVENUE}, True, ()),
    "dashboard": (set(Metric), True, PROJECT_FIELDS),
}  # fmt: skip


def facts_read(
    *, organization: Organization, start_date: date, end_date: date, answer: str
) -> Facts:
    """The facts an answer needs. With ANALYTICS_USE_MOCK_DATA and no data at all in the
    organisation, generated ones marked `is_mock`; real and mock data are never mixed."""
    metrics, previous, project_fields = _NEEDS[answer]
    facts = Facts(
        start_date=start_date,
        end_date=end_date,
        today=organization_today(organization),
        time_zone=organization.time_zone,
        opening_hours=organization.opening_hours,
        days={},
    )
    if settings.ANALYTICS_USE_MOCK_DATA and not has_data(organization):
        return mock.facts_fill(facts, organization=organization)
    read = {"organization": organization, "metrics": metrics}
    facts.days = daily_metrics_read(start_date=start_date, end_date=end_date, **read)
    if previous:
        length = end_date - start_date + timedelta(days=1)
        facts.previous_days = daily_metrics_read(
            organization=organization,
            start_date=start_date - length,
            end_date=start_date - timedelta(days=1),
            metrics={Metric.REVENUE},
        )
    if answer in ("overview", "dashboard") and facts.today not in facts.days:
        today = daily_metrics_compute(organization=organization, days=[facts.today], counted=True)
        facts.today_metrics = today[facts.today]
    if project_fields:
        facts.projects = projects_read(
            organization=organization,
            start_date=start_date,
            end_date=end_date,
            fields=project_fields,
        )
    return facts


def section_get(
    *,
    name: str,
    organization: Organization,
    start_date: date,
    end_date: date,
    period: str = "daily",
) -> dict[str, Any]:
    """One answer by name: overview, usage, inventory, equipment, projects or revenue."""
    query = {"start_date": start_date, "end_date": end_date}
    if name != "overview":
        query["period"] = period
    return answer_get(organization=organization, name=name, query=query)


def dashboard_get(
    *, organization: Organization, start_date: date, end_date: date, period: str = "daily"
) -> dict[str, Any]:
    """Every section over the range, read once."""
    query = {"start_date": start_date, "end_date": end_date, "period": period}
    return answer_get(organization=organization, name="dashboard", query=query)


def answer_get(*, organization: Organization, name: str, query: dict[str, Any]) -> dict[str, Any]:
    """An answer (the dashboard or a section) through the cache, at most
    ANALYTICS_MAX_STALENESS seconds behind the data (see `analytics.cache`)."""

    def refresh() -> None:
        from analytics.tasks import refresh_answer  # the task module imports this one

        message = {key: str(value) for key, value in query.items()}
        refresh_answer.apply_async(
            (str(organization.pk), name, message), expires=settings.ANALYTICS_MAX_STALENESS
        )

    compute = partial(_answer_compute, organization, name, query)
    return cached_answer(organization, name, query, compute, refresh)


def answer_refresh(*, organization: Organization, name: str, query: dict[str, str]) -> None:
    """Computes and caches an answer now, whatever the cache holds (the background refresh);
    `query` as strings, as a task message carries it."""
    values: dict[str, Any] = {
        key: date.fromisoformat(value) if key.endswith("_date") else value
        for key, value in query.items()
    }
    key = answer_key(organization, name, values)
    answer_store(organization, key, partial(_answer_compute, organization, name, values))


@analytics_reads
def _answer_compute(organization: Organization, name: str, query: dict[str, Any]) -> dict:
    period = query.get("period", "daily")
    facts = facts_read(
        organization=organization,
        start_date=query["start_date"],
        end_date=query["end_date"],
        answer=name,
    )
    if name == "dashboard":
        return sections.dashboard(facts, period)
    if name == "overview":
        return sections.overview(facts)
    return sections.SECTIONS[name](facts, period)


def live_counts_pending() -> int:
    """Batches whose live counts wait for `analytics.fold_live_counters`."""
    return AnalyticsPendingCount.objects.count()


def dirty_days_summary() -> tuple[int, datetime | None]:
    """How many organisation days wait for their roll-ups, and the oldest mark among them.
    Today does not wait (its live counters are read) unless it is marked for a recount."""
    now = timezone.now()
    # A day after yesterday (UTC) may be some organisation's today: those few are checked in
    # its time zone.
    recent = Q(recount=False, date__gte=(now - timedelta(days=1)).date())
    summary = AnalyticsDirtyDay.objects.exclude(recent).aggregate(
        count=Count("id"), oldest=Min("marked_at")
    )
    count, oldest = summary["count"], summary["oldest"]
    for mark in AnalyticsDirtyDay.objects.filter(recent).select_related("organization"):
        if mark.date < organization_today(mark.organization):
            count += 1
            oldest = min(oldest or mark.marked_at, mark.marked_at)
    return count, oldest
