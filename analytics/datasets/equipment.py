"""Equipment report tables: utilisation, maintenance and revenue per machine; use per day.

The dashboard's definitions (`analytics.rollups`, `analytics.sections`), so a report and the
dashboard give the same numbers for the same range: sessions and minutes leave out maintenance
(usage_type "maintenance"), which is counted on its own; utilisation is minutes over the
opening minutes of the range's days up to today.
"""

from collections.abc import Mapping
from typing import Any

from django.db.models import Count, Max, QuerySet, Sum
from django.db.models.functions import TruncDate

from accounts.models import open_minutes_between
from analytics.cache import organization_today
from analytics.datasets.base import (
    ZERO,
    Span,
    dataset,
    every,
    iterate,
    money,
    percent,
    ratio,
    span_for,
    stream,
)
from analytics.rollups import MAINTENANCE
from events.models import EquipmentUsageLog
from reporting.datasources.base import RowStream
from reporting.tables import Column


def _sessions(span: Span) -> QuerySet[EquipmentUsageLog]:
    # Every logged row, whatever its status (a failed session is still a session); the
    # groupings below keep maintenance apart from sessions and minutes.
    return EquipmentUsageLog.objects.filter(
        organization=span.organization, start_time__gte=span.since, start_time__lt=span.until
    ).order_by()


def open_minutes(span: Span) -> int:
    """Minutes the organisation is open over the span's days up to today (a machine cannot
    be used later), by its opening hours."""
    last = min(span.end, organization_today(span.organization))
    return open_minutes_between(span.organization.opening_hours, span.start, last)


def _machines(span: Span) -> QuerySet[EquipmentUsageLog]:
    """One row per machine, busiest first: the same grouping behind the three machine tables."""
    return (
        _sessions(span)
        .values("equipment_id")
        .annotate(
            equipment_name=Max("equipment_name"),
            equipment_type=Max("equipment_type"),
            sessions=Count("id", filter=~MAINTENANCE),
            minutes=Sum("duration_minutes", filter=~MAINTENANCE, default=0),
            maintenance_sessions=Count("id", filter=MAINTENANCE),
            maintenance_minutes=Sum("duration_minutes", filter=MAINTENANCE, default=0),
            revenue=Sum("revenue"),
            cost=Sum("cost"),
        )
        .order_by("-minutes", "equipment_id")
    )


MACHINE = [Column("equipment_id"), Column("equipment_name")]


@dataset("analytics_equipment", "Equipment: sessions and utilisation against opening hours")
def equipment_utilisation(organization_id: Any, parameters: Mapping[str, Any]) -> RowStream:
    span = span_for(organization_id, parameters)
    available = open_minutes(span)
    described = (
        {
            **row,
            "mean_minutes": ratio(row["minutes"], row["sessions"]),
            "utilisation_percent": percent(row["minutes"], available),
        }
        for row in iterate(_machines(span))
    )
    return stream(
        [
            *MACHINE,
            Column("equipment_type"),
            Column("sessions", "integer"),
            Column("minutes", "integer"),
            Column("mean_minutes", "number"),
            Column("utilisation_percent", "number"),
        ],
        described,
    )


@dataset("analytics_equipment_maintenance", "Equipment: maintenance sessions per machine")
def equipment_maintenance(organization_id: Any, parameters: Mapping[str, Any]) -> RowStream:
    span = span_for(organization_id, parameters)
    described = (
        {
            **row,
            "maintenance_share": percent(
                row["maintenance_minutes"], row["minutes"] + row["maintenance_minutes"]
            ),
        }
        for row in iterate(_machines(span))
    )
    return stream(
        [
            *MACHINE,
            Column("maintenance_sessions", "integer"),
            Column("maintenance_minutes", "integer"),
            Column("maintenance_share", "number"),
        ],
        described,
    )


@dataset("analytics_equipment_revenue", "Equipment: revenue and cost per machine")
def equipment_revenue(organization_id: Any, parameters: Mapping[str, Any]) -> RowStream:
    span = span_for(organization_id, parameters)
    described = (
        {**row, "margin": row["revenue"] - row["cost"]} for row in iterate(_machines(span))
    )
    return stream(
        [
            *MACHINE,
            money("revenue"),
            money("cost"),
            money("margin"),
        ],
        described,
    )


@dataset("analytics_equipment_daily", "Equipment: sessions, minutes and revenue per day")
def equipment_daily(organization_id: Any, parameters: Mapping[str, Any]) -> RowStream:
    span = span_for(organization_id, parameters)
    rows = (
        _sessions(span)
        .annotate(day=TruncDate("start_time", tzinfo=span.zone))
        .values("day")
        .annotate(
            sessions=Count("id", filter=~MAINTENANCE),
            minutes=Sum("duration_minutes", filter=~MAINTENANCE, default=0),
            maintenance_sessions=Count("id", filter=MAINTENANCE),
            revenue=Sum("revenue"),
        )
        .order_by("day")
    )
    zero = {"sessions": 0, "minutes": 0, "maintenance_sessions": 0, "revenue": ZERO}
    return stream(
        [
            Column("day", "date"),
            Column("sessions", "integer"),
            Column("minutes", "integer"),
            Column("maintenance_sessions", "integer"),
            money("revenue"),
        ],
        every(iterate(rows), "day", span.days(), zero),
    )
