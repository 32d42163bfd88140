"""Reading analytics: daily metrics from snapshots (whole past days) and the raw table (today
and days not yet refreshed), usage and overview answers, cached per organisation and query.

Active users over a week, a month or the whole range cannot be summed from daily distinct
counts, so they are a COUNT(DISTINCT user_id) over the raw events of the range (served by the
organisation + timestamp index). Every other number comes from the daily buckets, whose cost
follows the number of days asked for.
"""

import time
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta
from datetime import time as clock
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, Q, QuerySet
from django.db.models.functions import ExtractHour, TruncDate, TruncMonth, TruncWeek
from django.utils import timezone

from accounts.models import Organization
from analytics.models import AnalyticsDirtyDay, AnalyticsSnapshot
from events.models import UsageEvent

Metric = AnalyticsSnapshot.Metric
DailyMetrics = dict[date, dict[str, Any]]
PERIODS = ("daily", "weekly", "monthly")
_COUNTED_BY = {
    Metric.EVENTS_BY_TYPE: "event_type",
    Metric.EVENTS_BY_CATEGORY: "event_category",
    Metric.EVENTS_BY_HOUR: "hour",
}


def organization_today(organization: Organization) -> date:
    return timezone.now().astimezone(ZoneInfo(organization.time_zone)).date()


def cache_version_key(organization: Organization) -> str:
    return f"analytics:version:{organization.pk}"


def analytics_cache_version(organization: Organization) -> int:
    """Part of every cached answer's key: new data for the organisation changes it."""
    key = cache_version_key(organization)
    cache.add(key, time.time_ns(), timeout=None)
    return cache.get(key) or 0


def _events_on(organization: Organization, days: Iterable[date]) -> QuerySet[UsageEvent]:
    days = sorted(days)
    zone = ZoneInfo(organization.time_zone)
    # The timestamp range lets the organisation + timestamp index narrow the rows first.
    return (
        UsageEvent.objects.filter(
            organization=organization,
            timestamp__gte=datetime.combine(days[0], clock.min, tzinfo=zone),
            timestamp__lt=datetime.combine(days[-1] + timedelta(days=1), clock.min, tzinfo=zone),
        )
        .annotate(
            day=TruncDate("timestamp", tzinfo=zone), hour=ExtractHour("timestamp", tzinfo=zone)
        )
        .filter(day__in=days)
        .order_by()
    )


def daily_metrics_compute(*, organization: Organization, days: Iterable[date]) -> DailyMetrics:
    """Every metric of the given local days from the raw events: four grouped queries whatever
    the number of days; a day without events gets zeros."""
    days = set(days)
    result: DailyMetrics = {day: _empty_day() for day in days}
    if not days:
        return result
    events = _events_on(organization, days)
    scalars = events.values("day").annotate(
        events=Count("id"),
        active_users=Count("user_id", distinct=True),
        logins=Count("id", filter=Q(event_type="login")),
    )
    for row in scalars:
        result[row["day"]].update(
            {name: row[name] for name in ("events", "active_users", "logins")}
        )
    for metric, field in _COUNTED_BY.items():
        for row in events.values("day", field).annotate(count=Count("id")):
            result[row["day"]][metric][str(row[field])] = row["count"]
    return result


def _empty_day() -> dict[str, Any]:
    return {
        Metric.EVENTS: 0,
        Metric.ACTIVE_USERS: 0,
        Metric.LOGINS: 0,
        Metric.EVENTS_BY_TYPE: {},
        Metric.EVENTS_BY_CATEGORY: {},
        Metric.EVENTS_BY_HOUR: {},
    }


def daily_metrics_read(
    *, organization: Organization, start_date: date, end_date: date
) -> DailyMetrics:
    """The range's days: snapshots for refreshed past days, raw events for today and for days
    that received data since the last refresh; days after today are empty."""
    today = organization_today(organization)
    days = [start_date + timedelta(days=n) for n in range((end_date - start_date).days + 1)]
    result: DailyMetrics = {day: _empty_day() for day in days}
    snapshots = AnalyticsSnapshot.objects.filter(
        organization=organization, date__gte=start_date, date__lte=min(end_date, today)
    ).values_list("date", "metric", "value")
    for day, metric, value in snapshots:
        result[day][metric] = value
    dirty = AnalyticsDirtyDay.objects.filter(
        organization=organization, date__gte=start_date, date__lte=end_date
    ).values_list("date", flat=True)
    raw_days = set(dirty) | ({today} if start_date <= today <= end_date else set())
    result.update(daily_metrics_compute(organization=organization, days=raw_days))
    return result


def period_start(day: date, period: str) -> date:
    if period == "weekly":
        return day - timedelta(days=day.weekday())
    if period == "monthly":
        return day.replace(day=1)
    return day


def _distinct_users(
    organization: Organization, start_date: date, end_date: date, period: str | None
) -> Any:
    """Distinct users over the range (period None) or per period start."""
    zone = ZoneInfo(organization.time_zone)
    events = UsageEvent.objects.filter(
        organization=organization,
        timestamp__gte=datetime.combine(start_date, clock.min, tzinfo=zone),
        timestamp__lt=datetime.combine(end_date + timedelta(days=1), clock.min, tzinfo=zone),
    ).order_by()
    if period is None:
        return events.aggregate(users=Count("user_id", distinct=True))["users"]
    trunc = TruncWeek if period == "weekly" else TruncMonth
    rows = events.annotate(bucket=trunc("timestamp", tzinfo=zone)).values("bucket")
    rows = rows.annotate(users=Count("user_id", distinct=True))
    return {row["bucket"].astimezone(zone).date(): row["users"] for row in rows}


def _cached(
    organization: Organization,
    name: str,
    query: dict[str, Any],
    compute: Callable[[], dict[str, Any]],
) -> dict[str, Any]:
    today = organization_today(organization)
    parts = [f"{key}={query[key]}" for key in sorted(query)]
    key = ":".join(
        [
            "analytics",
            str(organization.pk),
            str(analytics_cache_version(organization)),
            name,
            str(today),
            *parts,
        ]
    )
    answer = cache.get(key)
    if answer is None:
        answer = {**compute(), "computed_at": timezone.now().isoformat()}
        cache.set(key, answer, settings.ANALYTICS_CACHE_TTL)
    return answer


def usage_get(
    *, organization: Organization, start_date: date, end_date: date, period: str
) -> dict[str, Any]:
    query = {"start_date": start_date, "end_date": end_date, "period": period}
    return _cached(
        organization,
        "usage",
        query,
        lambda: _usage_compute(organization, start_date, end_date, period),
    )


def _usage_compute(
    organization: Organization, start_date: date, end_date: date, period: str
) -> dict[str, Any]:
    days = daily_metrics_read(organization=organization, start_date=start_date, end_date=end_date)
    buckets: dict[date, dict[str, Any]] = {}
    for day, metrics in sorted(days.items()):
        bucket = buckets.setdefault(period_start(day, period), _bucket_empty())
        _bucket_add(bucket, metrics)
        if period == "daily":
            bucket["active_users"] = metrics[Metric.ACTIVE_USERS]
    if period != "daily":
        for start, users in _distinct_users(organization, start_date, end_date, period).items():
            buckets[start]["active_users"] = users
    totals = _bucket_empty()
    hours: Counter[str] = Counter()
    for metrics in days.values():
        _bucket_add(totals, metrics)
        hours.update(metrics[Metric.EVENTS_BY_HOUR])
    peak_hours = [{"hour": hour, "events": hours.get(str(hour), 0)} for hour in range(24)]
    busiest = max(peak_hours, key=lambda row: row["events"])
    return {
        "start_date": start_date.isoformat(),
        "end_date": end_date.isoformat(),
        "period": period,
        "time_zone": organization.time_zone,
        "totals": {
            "events": totals["events"],
            "logins": totals["logins"],
            "active_users": _distinct_users(organization, start_date, end_date, None),
        },
        "events_by_type": totals["events_by_type"],
        "events_by_category": totals["events_by_category"],
        "peak_hours": peak_hours,
        "peak_hour": busiest["hour"] if busiest["events"] else None,
        "series": [
            {"period_start": start.isoformat(), **bucket}
            for start, bucket in sorted(buckets.items())
        ],
    }


def _bucket_empty() -> dict[str, Any]:
    return {
        "events": 0,
        "active_users": 0,
        "logins": 0,
        "events_by_type": {},
        "events_by_category": {},
    }


def _bucket_add(bucket: dict[str, Any], metrics: dict[str, Any]) -> None:
    bucket["events"] += metrics[Metric.EVENTS]
    bucket["logins"] += metrics[Metric.LOGINS]
    for name in ("events_by_type", "events_by_category"):
        counts = Counter(bucket[name])
        counts.update(metrics[name])
        bucket[name] = dict(sorted(counts.items()))


def overview_get(*, organization: Organization, start_date: date, end_date: date) -> dict[str, Any]:
    query = {"start_date": start_date, "end_date": end_date}
    return _cached(
        organization,
        "overview",
        query,
        lambda: _overview_compute(organization, start_date, end_date),
    )


def _overview_compute(
    organization: Organization, start_date: date, end_date: date
) -> dict[str, Any]:
    days = daily_metrics_read(organization=organization, start_date=start_date, end_date=end_date)
    today = organization_today(organization)
    today_metrics = (
        days.get(today) or daily_metrics_compute(organization=organization, days=[today])[today]
    )
    by_type: Counter[str] = Counter()
    for metrics in days.values():
        by_type.update(metrics[Metric.EVENTS_BY_TYPE])
    # Most events first; a tie goes to the name first in alphabetical order.
    top = min(by_type.items(), key=lambda item: (-item[1], item[0]), default=None)
    return {
        "start_date": start_date.isoformat(),
        "end_date": end_date.isoformat(),
        "time_zone": organization.time_zone,
        "total_events": sum(by_type.values()),
        "active_users": _distinct_users(organization, start_date, end_date, None),
        "events_today": today_metrics[Metric.EVENTS],
        "top_event_type": {"event_type": top[0], "events": top[1]} if top else None,
    }
