"""Usage report tables: activity per day, login patterns, peak hours, event types."""

from collections.abc import Mapping
from typing import Any

from django.db.models import Count, Q, QuerySet
from django.db.models.functions import ExtractHour, ExtractIsoWeekDay, TruncDate

from analytics.datasets.base import (
    DAY_NAMES,
    Span,
    dataset,
    every,
    iterate,
    ratio,
    span_for,
    stream,
)
from events.models import UsageEvent
from reporting.datasources.base import RowStream
from reporting.tables import Column


def _events(span: Span) -> QuerySet[UsageEvent]:
    # The instant range lets the organisation + timestamp index narrow the rows first.
    return UsageEvent.objects.filter(
        organization=span.organization, timestamp__gte=span.since, timestamp__lt=span.until
    ).order_by()


def _logins(span: Span) -> QuerySet[UsageEvent]:
    return _events(span).filter(event_type="login")


@dataset("analytics_usage_daily", "Usage: events, active users and logins per local day")
def usage_daily(organization_id: Any, parameters: Mapping[str, Any]) -> RowStream:
    span = span_for(organization_id, parameters)
    rows = (
        _events(span)
        .annotate(day=TruncDate("timestamp", tzinfo=span.zone))
        .values("day")
        .annotate(
            events=Count("id"),
            active_users=Count("user_id", distinct=True),
            logins=Count("id", filter=Q(event_type="login")),
        )
        .order_by("day")
    )
    zero = {"events": 0, "active_users": 0, "logins": 0}
    return stream(
        [Column("day", "date"), *(Column(name, "integer") for name in zero)],
        every(iterate(rows), "day", span.days(), zero),
    )


@dataset("analytics_usage_logins_by_weekday", "Usage: logins per weekday")
def usage_logins_by_weekday(organization_id: Any, parameters: Mapping[str, Any]) -> RowStream:
    span = span_for(organization_id, parameters)
    counts = dict(
        _logins(span)
        .annotate(weekday=ExtractIsoWeekDay("timestamp", tzinfo=span.zone))
        .values("weekday")
        .annotate(logins=Count("id"))
        .values_list("weekday", "logins")
    )
    days = [0] * 7  # how many of each weekday the span holds
    for day in span.days():
        days[day.weekday()] += 1
    rows = (
        {
            "weekday": weekday,
            "day_name": DAY_NAMES[weekday - 1],
            "logins": counts.get(weekday, 0),
            "logins_per_day": ratio(counts.get(weekday, 0), days[weekday - 1]),
        }
        for weekday in range(1, 8)
    )
    return stream(
        [
            Column("weekday", "integer"),
            Column("day_name"),
            Column("logins", "integer"),
            Column("logins_per_day", "number"),
        ],
        rows,
    )


@dataset("analytics_usage_login_hours", "Usage: logins per weekday and local hour")
def usage_login_hours(organization_id: Any, parameters: Mapping[str, Any]) -> RowStream:
    span = span_for(organization_id, parameters)
    rows = (
        _logins(span)
        .annotate(
            weekday=ExtractIsoWeekDay("timestamp", tzinfo=span.zone),
            hour=ExtractHour("timestamp", tzinfo=span.zone),
        )
        .values("weekday", "hour")
        .annotate(logins=Count("id"))
        .order_by("weekday", "hour")
    )
    named = ({**row, "day_name": DAY_NAMES[row["weekday"] - 1]} for row in iterate(rows))
    return stream(
        [
            Column("weekday", "integer"),
            Column("day_name"),
            Column("hour", "integer"),
            Column("logins", "integer"),
        ],
        named,
    )


@dataset("analytics_usage_peak_hours", "Usage: events and logins per local hour of the day")
def usage_peak_hours(organization_id: Any, parameters: Mapping[str, Any]) -> RowStream:
    span = span_for(organization_id, parameters)
    rows = (
        _events(span)
        .annotate(hour=ExtractHour("timestamp", tzinfo=span.zone))
        .values("hour")
        .annotate(events=Count("id"), logins=Count("id", filter=Q(event_type="login")))
        .order_by("hour")
    )
    zero = {"events": 0, "logins": 0}
    return stream(
        [Column("hour", "integer"), Column("events", "integer"), Column("logins", "integer")],
        every(iterate(rows), "hour", range(24), zero),
    )


@dataset("analytics_usage_event_types", "Usage: events and users per category and type")
def usage_event_types(organization_id: Any, parameters: Mapping[str, Any]) -> RowStream:
    span = span_for(organization_id, parameters)
    rows = (
        _events(span)
        .values("event_category", "event_type")
        .annotate(events=Count("id"), users=Count("user_id", distinct=True))
        .order_by("-events", "event_category", "event_type")
    )
    return stream(
        [
            Column("event_category"),
            Column("event_type"),
            Column("events", "integer"),
            Column("users", "integer"),
        ],
        iterate(rows),
    )
