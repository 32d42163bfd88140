"""The dashboard's sections as plain functions of the facts of a range: daily metrics (from
snapshots, live rows or the mock generator) and the projects. No queries here, so real and
mock data give answers of the same shape by the same arithmetic.

Periods: a series has one row per day, per week (starting Monday) or per month, each keyed by
its first day; the first row may start before the range, its numbers are the range's days only.
Money is a decimal string with two places; percentages are rounded to two places.
"""

from typing import Any

from analytics.rollups import Metric, empty_day, money
from analytics.sections.base import (
    PERIODS,
    Facts,
    counts,
    decimal_sum,
    header,
    period_start,
    users,
)
from analytics.sections.equipment import equipment, fleet_utilisation
from analytics.sections.inventory import inventory
from analytics.sections.projects import projects
from analytics.sections.revenue import revenue
from analytics.sections.usage import usage

__all__ = ["PERIODS", "SECTIONS", "Facts", "dashboard", "overview", "period_start"]


def overview(facts: Facts) -> dict[str, Any]:
    days = list(facts.days.values())
    by_type = counts(days, Metric.EVENTS_BY_TYPE)
    # Most events first; a tie goes to the name first in alphabetical order.
    top = min(by_type.items(), key=lambda item: (-item[1], item[0]), default=None)
    today = facts.today_metrics or facts.days.get(facts.today, empty_day())
    machines = facts.machines
    return {
        **header(facts),
        "total_events": sum(by_type.values()),
        "active_users": users(days),
        "events_today": today[Metric.EVENTS],
        "top_event_type": {"event_type": top[0], "events": top[1]} if top else None,
        "revenue": money(decimal_sum(m[Metric.REVENUE]["amount"] for m in days)),
        "equipment_hours": round(sum(row["minutes"] for row in machines) / 60, 2),
        "equipment_utilisation_percent": fleet_utilisation(facts, machines),
        "inventory_cost": money(
            decimal_sum(item["cost"] for m in days for item in m[Metric.INVENTORY].values())
        ),
        "active_projects": sum(project["status"] == "active" for project in facts.projects),
    }


SECTIONS = {
    "usage": usage,
    "inventory": inventory,
    "equipment": equipment,
    "projects": projects,
    "revenue": revenue,
}


def dashboard(facts: Facts, period: str) -> dict[str, Any]:
    """Every section over the same facts; each section without the range header."""
    top = header(facts, period)
    sections = {"overview": overview(facts)} | {
        name: section(facts, period) for name, section in SECTIONS.items()
    }
    return {
        **top,
        **{
            name: {key: value for key, value in answer.items() if key not in top}
            for name, answer in sections.items()
        },
    }
