"""What every section shares: the facts of a range, its periods, small arithmetic."""

from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from functools import cached_property, reduce
from operator import or_
from typing import Any

from accounts.models import open_minutes_between
from analytics.rollups import DailyMetrics, Metric, UserSet

PERIODS = ("daily", "weekly", "monthly")
TOP = 10


@dataclass
class Facts:
    start_date: date
    end_date: date
    today: date
    time_zone: str
    opening_hours: dict
    days: DailyMetrics
    # The range of the same length just before, for growth (revenue only).
    previous_days: DailyMetrics = field(default_factory=dict)
    projects: list[dict[str, Any]] = field(default_factory=list)
    # Today's metrics when today is outside the range (the overview's "events today").
    today_metrics: dict[str, Any] | None = None
    is_mock: bool = False

    @cached_property
    def machines(self) -> list[dict[str, Any]]:
        from analytics.sections.equipment import equipment_rows

        return equipment_rows(self)

    @cached_property
    def open_minutes(self) -> int:
        """Opening minutes of the range's days up to today (a machine cannot be used later)."""
        last = min(self.end_date, self.today)
        return open_minutes_between(self.opening_hours, self.start_date, last)


def period_start(day: date, period: str) -> date:
    if period == "weekly":
        return day - timedelta(days=day.weekday())
    if period == "monthly":
        return day.replace(day=1)
    return day


def header(facts: Facts, period: str | None = None) -> dict[str, Any]:
    fields = {
        "start_date": facts.start_date.isoformat(),
        "end_date": facts.end_date.isoformat(),
        "time_zone": facts.time_zone,
        "is_mock": facts.is_mock,
    }
    return {**fields, "period": period} if period else fields


def series(
    facts: Facts, period: str, row: Callable[[list[dict[str, Any]]], dict[str, Any]]
) -> list[dict[str, Any]]:
    buckets: dict[date, list[dict[str, Any]]] = defaultdict(list)
    for day, metrics in sorted(facts.days.items()):
        buckets[period_start(day, period)].append(metrics)
    return [{"period_start": start.isoformat(), **row(days)} for start, days in buckets.items()]


def counts(days: list[dict[str, Any]], metric: str) -> dict[str, int]:
    total: Counter[str] = Counter()
    for metrics in days:
        total.update(metrics[metric])
    return dict(sorted(total.items()))


def users(days: list[dict[str, Any]]) -> int:
    return len(reduce(or_, (metrics[Metric.ACTIVE_USERS] for metrics in days), UserSet()))


def percent(part: float, whole: float) -> float | None:
    return round(100 * part / whole, 2) if whole else None


def decimal_sum(values) -> Decimal:
    return sum((Decimal(value) for value in values), Decimal(0))


def mean(total: float, count: int) -> float | None:
    return round(total / count, 2) if count else None
