"""The usage section: events, active users and logins per period, peak hours (overall and by
weekday), logins by weekday."""

from collections import Counter
from typing import Any

from analytics.rollups import Metric
from analytics.sections.base import (
    Facts,
    counts,
    header,
    series,
    users,
)


def usage(facts: Facts, period: str) -> dict[str, Any]:
    days = list(facts.days.values())
    hours = counts(days, Metric.EVENTS_BY_HOUR)
    peak_hours = [{"hour": hour, "events": hours.get(str(hour), 0)} for hour in range(24)]
    busiest = max(peak_hours, key=lambda row: row["events"])
    return {
        **header(facts, period),
        "totals": {
            "events": sum(metrics[Metric.EVENTS] for metrics in days),
            "logins": sum(metrics[Metric.LOGINS] for metrics in days),
            "active_users": users(days),
        },
        "events_by_type": counts(days, Metric.EVENTS_BY_TYPE),
        "events_by_category": counts(days, Metric.EVENTS_BY_CATEGORY),
        "peak_hours": peak_hours,
        "peak_hour": busiest["hour"] if busiest["events"] else None,
        "peak_hours_by_weekday": _peak_hours_by_weekday(facts),
        "login_patterns": _login_patterns(facts),
        "series": series(facts, period, _usage_row),
    }


def _usage_row(days: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "events": sum(metrics[Metric.EVENTS] for metrics in days),
        "active_users": users(days),
        "logins": sum(metrics[Metric.LOGINS] for metrics in days),
        "events_by_type": counts(days, Metric.EVENTS_BY_TYPE),
        "events_by_category": counts(days, Metric.EVENTS_BY_CATEGORY),
    }


def _peak_hours_by_weekday(facts: Facts) -> list[dict[str, Any]]:
    """Events by local weekday (0 is Monday) and local hour: 7 x 24 rows, Monday 00:00 first.
    A day's hours are local already, so its weekday places them."""
    cells: Counter[tuple[int, int]] = Counter()
    for day, metrics in facts.days.items():
        for hour, events in metrics[Metric.EVENTS_BY_HOUR].items():
            cells[day.weekday(), int(hour)] += events
    return [
        {"weekday": weekday, "hour": hour, "events": cells[weekday, hour]}
        for weekday in range(7)
        for hour in range(24)
    ]


def _login_patterns(facts: Facts) -> list[dict[str, Any]]:
    """Logins by local weekday (0 is Monday), with the mean over the range's such days."""
    logins, days = Counter(), Counter()
    for day, metrics in facts.days.items():
        if day <= facts.today:
            logins[day.weekday()] += metrics[Metric.LOGINS]
            days[day.weekday()] += 1
    return [
        {
            "weekday": weekday,
            "logins": logins[weekday],
            "mean_logins": round(logins[weekday] / days[weekday], 2) if days[weekday] else 0,
        }
        for weekday in range(7)
    ]
