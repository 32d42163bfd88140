"""The dashboard's sections as plain functions of the facts of a range: daily metrics (from
snapshots, live rows or the mock generator) and the projects. No queries here, so real and
mock data give answers of the same shape by the same arithmetic.

Periods: a series has one row per day, per week (starting Monday) or per month, each keyed by
its first day; the first row may start before the range, its numbers are the range's days only.
Money is a decimal string with two places; percentages are rounded to two places.
"""

from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from functools import cached_property, reduce
from operator import or_
from typing import Any

from accounts.models import opening_minutes
from analytics.rollups import DailyMetrics, Metric, UserSet, empty_day, money

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
        return _equipment_rows(self)

    @cached_property
    def open_minutes(self) -> int:
        """Opening minutes of the range's days up to today (a machine cannot be used later)."""
        last = min(self.end_date, self.today)
        return sum(
            opening_minutes(self.opening_hours, (self.start_date + timedelta(days=n)).weekday())
            for n in range((last - self.start_date).days + 1)
        )


def period_start(day: date, period: str) -> date:
    if period == "weekly":
        return day - timedelta(days=day.weekday())
    if period == "monthly":
        return day.replace(day=1)
    return day


def _header(facts: Facts, period: str | None = None) -> dict[str, Any]:
    header = {
        "start_date": facts.start_date.isoformat(),
        "end_date": facts.end_date.isoformat(),
        "time_zone": facts.time_zone,
        "is_mock": facts.is_mock,
    }
    return {**header, "period": period} if period else header


def _series(
    facts: Facts, period: str, row: Callable[[list[dict[str, Any]]], dict[str, Any]]
) -> list[dict[str, Any]]:
    buckets: dict[date, list[dict[str, Any]]] = defaultdict(list)
    for day, metrics in sorted(facts.days.items()):
        buckets[period_start(day, period)].append(metrics)
    return [{"period_start": start.isoformat(), **row(days)} for start, days in buckets.items()]


def _counts(days: list[dict[str, Any]], metric: str) -> dict[str, int]:
    total: Counter[str] = Counter()
    for metrics in days:
        total.update(metrics[metric])
    return dict(sorted(total.items()))


def _users(days: list[dict[str, Any]]) -> int:
    return len(reduce(or_, (metrics[Metric.ACTIVE_USERS] for metrics in days), UserSet()))


def _percent(part: float, whole: float) -> float | None:
    return round(100 * part / whole, 2) if whole else None


def _decimal_sum(values) -> Decimal:
    return sum((Decimal(value) for value in values), Decimal(0))


# --- usage -----------------------------------------------------------------------------------


def usage(facts: Facts, period: str) -> dict[str, Any]:
    days = list(facts.days.values())
    hours = _counts(days, Metric.EVENTS_BY_HOUR)
    peak_hours = [{"hour": hour, "events": hours.get(str(hour), 0)} for hour in range(24)]
    busiest = max(peak_hours, key=lambda row: row["events"])
    return {
        **_header(facts, period),
        "totals": {
            "events": sum(metrics[Metric.EVENTS] for metrics in days),
            "logins": sum(metrics[Metric.LOGINS] for metrics in days),
            "active_users": _users(days),
        },
        "events_by_type": _counts(days, Metric.EVENTS_BY_TYPE),
        "events_by_category": _counts(days, Metric.EVENTS_BY_CATEGORY),
        "peak_hours": peak_hours,
        "peak_hour": busiest["hour"] if busiest["events"] else None,
        "login_patterns": _login_patterns(facts),
        "series": _series(facts, period, _usage_row),
    }


def _usage_row(days: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "events": sum(metrics[Metric.EVENTS] for metrics in days),
        "active_users": _users(days),
        "logins": sum(metrics[Metric.LOGINS] for metrics in days),
        "events_by_type": _counts(days, Metric.EVENTS_BY_TYPE),
        "events_by_category": _counts(days, Metric.EVENTS_BY_CATEGORY),
    }


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


# --- overview --------------------------------------------------------------------------------


def overview(facts: Facts) -> dict[str, Any]:
    days = list(facts.days.values())
    by_type = _counts(days, Metric.EVENTS_BY_TYPE)
    # Most events first; a tie goes to the name first in alphabetical order.
    top = min(by_type.items(), key=lambda item: (-item[1], item[0]), default=None)
    today = facts.today_metrics or facts.days.get(facts.today, empty_day())
    machines = facts.machines
    return {
        **_header(facts),
        "total_events": sum(by_type.values()),
        "active_users": _users(days),
        "events_today": today[Metric.EVENTS],
        "top_event_type": {"event_type": top[0], "events": top[1]} if top else None,
        "revenue": money(_decimal_sum(m[Metric.REVENUE]["amount"] for m in days)),
        "equipment_hours": round(sum(row["minutes"] for row in machines) / 60, 2),
        "equipment_utilisation_percent": _fleet_utilisation(facts, machines),
        "inventory_cost": money(
            _decimal_sum(item["cost"] for m in days for item in m[Metric.INVENTORY].values())
        ),
        "active_projects": sum(project["status"] == "active" for project in facts.projects),
    }


# --- inventory -------------------------------------------------------------------------------


def inventory(facts: Facts, period: str) -> dict[str, Any]:
    items = _inventory_items(facts.days.values())
    rows = [_inventory_item_row(item_id, item) for item_id, item in items.items()]
    by_category: dict[str, dict[str, Any]] = {}
    for row in rows:
        category = by_category.setdefault(
            row["category"], {"category": row["category"], "quantity": 0.0, "cost": Decimal(0)}
        )
        category["quantity"] += row["quantity_consumed"]
        category["cost"] += Decimal(row["cost_consumed"])
    total = _inventory_item_row("", _inventory_sum(list(items.values())))
    return {
        **_header(facts, period),
        "totals": {
            "items": len(rows),
            **{key: total[key] for key in _INVENTORY_NUMBERS},
        },
        "top_items": sorted(rows, key=lambda row: (-Decimal(row["cost_consumed"]), row["item_id"]))[
            :TOP
        ],
        "by_category": [
            {
                "category": category["category"],
                "quantity_consumed": round(category["quantity"], 3),
                "cost_consumed": money(category["cost"]),
            }
            for category in sorted(by_category.values(), key=lambda c: (-c["cost"], c["category"]))
        ],
        "reorders": sorted(
            (
                {"item_id": r["item_id"], "item_name": r["item_name"], "reorders": r["reorders"]}
                for r in rows
                if r["reorders"]
            ),
            key=lambda row: (-row["reorders"], row["item_id"]),
        ),
        "series": _series(facts, period, _inventory_period_row),
    }


_INVENTORY_NUMBERS = (
    "quantity_consumed",
    "cost_consumed",
    "mean_efficiency",
    "mean_waste_percentage",
    "reorders",
)


def _inventory_items(days) -> dict[str, dict[str, Any]]:
    items: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for metrics in days:
        for item_id, item in metrics[Metric.INVENTORY].items():
            items[item_id].append(item)
    return {item_id: _inventory_sum(parts) for item_id, parts in sorted(items.items())}


def _inventory_sum(parts: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "name": next((part["name"] for part in reversed(parts) if part["name"]), ""),
        "category": next((part["category"] for part in reversed(parts) if part["category"]), ""),
        "quantity": sum(part["quantity"] for part in parts),
        "cost": _decimal_sum(part["cost"] for part in parts),
        **{
            key: sum(part[key] for part in parts)
            for key in ("efficiency_sum", "efficiency_count", "waste_sum", "waste_count")
        },
        "reorders": sum(part["reorders"] for part in parts),
    }


def _inventory_item_row(item_id: str, item: dict[str, Any]) -> dict[str, Any]:
    return {
        "item_id": item_id,
        "item_name": item["name"],
        "category": item["category"],
        "quantity_consumed": round(item["quantity"], 3),
        "cost_consumed": money(item["cost"]),
        "mean_efficiency": _mean(item["efficiency_sum"], item["efficiency_count"]),
        "mean_waste_percentage": _mean(item["waste_sum"], item["waste_count"]),
        "reorders": item["reorders"],
    }


def _mean(total: float, count: int) -> float | None:
    return round(total / count, 2) if count else None


def _inventory_period_row(days: list[dict[str, Any]]) -> dict[str, Any]:
    total = _inventory_sum([item for m in days for item in m[Metric.INVENTORY].values()])
    return {
        "quantity_consumed": round(total["quantity"], 3),
        "cost_consumed": money(total["cost"]),
        "reorders": total["reorders"],
    }


# --- equipment -------------------------------------------------------------------------------

_EQUIPMENT_COUNTS = (
    "sessions",
    "minutes",
    "maintenance_sessions",
    "maintenance_minutes",
    "failed_sessions",
)


def _equipment_rows(facts: Facts) -> list[dict[str, Any]]:
    machines: dict[str, dict[str, Any]] = {}
    for metrics in facts.days.values():
        for equipment_id, day in metrics[Metric.EQUIPMENT].items():
            machine = machines.setdefault(
                equipment_id,
                {"name": "", "type": "", "revenue": Decimal(0), "cost": Decimal(0)}
                | dict.fromkeys(_EQUIPMENT_COUNTS, 0),
            )
            machine["name"] = day["name"] or machine["name"]
            machine["type"] = day["type"] or machine["type"]
            for key in _EQUIPMENT_COUNTS:
                machine[key] += day[key]
            machine["revenue"] += Decimal(day["revenue"])
            machine["cost"] += Decimal(day["cost"])
    available = facts.open_minutes
    return [
        {
            "equipment_id": equipment_id,
            "equipment_name": machine["name"],
            "equipment_type": machine["type"],
            **{key: machine[key] for key in _EQUIPMENT_COUNTS},
            "mean_session_minutes": _mean(machine["minutes"], machine["sessions"]),
            "utilisation_percent": _percent(machine["minutes"], available),
            "revenue": money(machine["revenue"]),
            "cost": money(machine["cost"]),
            "revenue_per_hour": money(machine["revenue"] * 60 / machine["minutes"])
            if machine["minutes"]
            else None,
        }
        for equipment_id, machine in sorted(machines.items())
    ]


def _fleet_utilisation(facts: Facts, machines: list[dict[str, Any]]) -> float | None:
    """Minutes used over the opening minutes of every machine seen in the range."""
    return _percent(sum(row["minutes"] for row in machines), facts.open_minutes * len(machines))


def equipment(facts: Facts, period: str) -> dict[str, Any]:
    machines = facts.machines
    totals = {key: sum(row[key] for row in machines) for key in _EQUIPMENT_COUNTS}
    by_type: dict[str, dict[str, Any]] = {}
    for row in machines:
        kind = by_type.setdefault(
            row["equipment_type"],
            {"equipment_type": row["equipment_type"], "sessions": 0, "minutes": 0,
             "revenue": Decimal(0)},
        )  # fmt: skip
        kind["sessions"] += row["sessions"]
        kind["minutes"] += row["minutes"]
        kind["revenue"] += Decimal(row["revenue"])
    return {
        **_header(facts, period),
        "open_minutes": facts.open_minutes,
        "totals": {
            **totals,
            "mean_session_minutes": _mean(totals["minutes"], totals["sessions"]),
            "utilisation_percent": _fleet_utilisation(facts, machines),
            "revenue": money(_decimal_sum(row["revenue"] for row in machines)),
            "cost": money(_decimal_sum(row["cost"] for row in machines)),
        },
        "equipment": sorted(machines, key=lambda row: (-row["minutes"], row["equipment_id"])),
        "by_type": [
            {**kind, "revenue": money(kind["revenue"])}
            for kind in sorted(by_type.values(), key=lambda k: (-k["minutes"], k["equipment_type"]))
        ],
        "series": _series(facts, period, _equipment_period_row),
    }


def _equipment_period_row(days: list[dict[str, Any]]) -> dict[str, Any]:
    machines = [machine for m in days for machine in m[Metric.EQUIPMENT].values()]
    return {
        "sessions": sum(machine["sessions"] for machine in machines),
        "minutes": sum(machine["minutes"] for machine in machines),
        "maintenance_sessions": sum(machine["maintenance_sessions"] for machine in machines),
        "revenue": money(_decimal_sum(machine["revenue"] for machine in machines)),
    }


# --- revenue ---------------------------------------------------------------------------------


def revenue(facts: Facts, period: str) -> dict[str, Any]:
    total = _revenue_sum(facts.days.values())
    previous = _revenue_sum(facts.previous_days.values())
    series = _series(facts, period, _revenue_sum)
    for before, row in zip([None, *series], series, strict=False):
        row["growth_percent"] = (
            _growth(Decimal(before["amount"]), Decimal(row["amount"])) if before else None
        )
    return {
        **_header(facts, period),
        "totals": {
            "amount": total["amount"],
            "transactions": total["transactions"],
            "mean_transaction": money(Decimal(total["amount"]) / total["transactions"])
            if total["transactions"]
            else None,
            "previous_amount": previous["amount"],
            "growth_percent": _growth(Decimal(previous["amount"]), Decimal(total["amount"])),
        },
        "by_source": total["by_source"],
        "by_payment_method": total["by_payment_method"],
        "series": series,
    }


def _revenue_sum(days) -> dict[str, Any]:
    sums = {"transactions": 0, "amount": Decimal(0)}
    by: dict[str, Counter] = {"by_source": Counter(), "by_payment_method": Counter()}
    for metrics in days:
        day = metrics[Metric.REVENUE]
        sums["transactions"] += day["transactions"]
        sums["amount"] += Decimal(day["amount"])
        for key, counter in by.items():
            counter.update({label: Decimal(amount) for label, amount in day[key].items()})
    return {
        "transactions": sums["transactions"],
        "amount": money(sums["amount"]),
        **{key: {label: money(counter[label]) for label in sorted(counter)}
           for key, counter in by.items()},
    }  # fmt: skip


def _growth(before: Decimal, now: Decimal) -> float | None:
    """Percent change against the period before; None when there was nothing before."""
    return round(float((now - before) * 100 / before), 2) if before else None


# --- projects --------------------------------------------------------------------------------


def projects(facts: Facts, period: str) -> dict[str, Any]:
    """Over the projects open at some point in the range (started by its end, not ended
    before its start)."""
    rows = facts.projects
    finished = [p for p in rows if p["status"] == "completed" and p["end_date"]]
    durations = [(p["end_date"] - p["start_date"]).days for p in finished]
    materials: dict[str, dict[str, Any]] = {}
    for project in rows:
        for line in project["bom_items"] or []:
            if not isinstance(line, dict) or not line.get("item"):
                continue
            material = materials.setdefault(
                str(line["item"]),
                {"item": str(line["item"]), "quantity": 0.0, "cost": Decimal(0), "projects": 0},
            )
            quantity = float(line.get("quantity") or 0)
            material["quantity"] += quantity
            material["cost"] += Decimal(str(line.get("unit_cost") or 0)) * Decimal(str(quantity))
            material["projects"] += 1
    bom_total = _decimal_sum(p["bom_cost"] for p in rows)
    started = Counter(
        period_start(p["start_date"], period).isoformat()
        for p in rows
        if facts.start_date <= p["start_date"] <= facts.end_date
    )
    completed = Counter(
        period_start(p["end_date"], period).isoformat()
        for p in finished
        if facts.start_date <= p["end_date"] <= facts.end_date
    )
    return {
        **_header(facts, period),
        "totals": {
            "projects": len(rows),
            "completed": len(finished),
            "mean_duration_days": _mean(sum(durations), len(durations)),
            "bom_cost": money(bom_total),
            "mean_bom_cost": money(bom_total / len(rows)) if rows else None,
            "bom_items": sum(p["bom_item_count"] for p in rows),
        },
        "by_status": dict(sorted(Counter(p["status"] for p in rows).items())),
        "top_materials": [
            {**m, "quantity": round(m["quantity"], 3), "cost": money(m["cost"])}
            for m in sorted(materials.values(), key=lambda m: (-m["cost"], m["item"]))[:TOP]
        ],
        "series": [
            {"period_start": start, "started": started[start], "completed": completed[start]}
            for start in sorted({period_start(day, period).isoformat() for day in facts.days})
        ],
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
    header = _header(facts, period)
    sections = {"overview": overview(facts)} | {
        name: section(facts, period) for name, section in SECTIONS.items()
    }
    return {
        **header,
        **{
            name: {key: value for key, value in answer.items() if key not in header}
            for name, answer in sections.items()
        },
    }
