"""The equipment section: sessions, minutes, utilisation against opening hours, maintenance
and revenue per machine."""

from decimal import Decimal
from typing import Any

from analytics.rollups import Metric, money
from analytics.sections.base import (
    Facts,
    decimal_sum,
    header,
    mean,
    percent,
    series,
)

_EQUIPMENT_COUNTS = (
    "sessions",
    "minutes",
    "maintenance_sessions",
    "maintenance_minutes",
    "failed_sessions",
)


def equipment_rows(facts: Facts) -> list[dict[str, Any]]:
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
            "mean_session_minutes": mean(machine["minutes"], machine["sessions"]),
            "utilisation_percent": percent(machine["minutes"], available),
            "revenue": money(machine["revenue"]),
            "cost": money(machine["cost"]),
            "revenue_per_hour": money(machine["revenue"] * 60 / machine["minutes"])
            if machine["minutes"]
            else None,
        }
        for equipment_id, machine in sorted(machines.items())
    ]


def fleet_utilisation(facts: Facts, machines: list[dict[str, Any]]) -> float | None:
    """Minutes used over the opening minutes of every machine seen in the range."""
    return percent(sum(row["minutes"] for row in machines), facts.open_minutes * len(machines))


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
        **header(facts, period),
        "open_minutes": facts.open_minutes,
        "totals": {
            **totals,
            "mean_session_minutes": mean(totals["minutes"], totals["sessions"]),
            "utilisation_percent": fleet_utilisation(facts, machines),
            "revenue": money(decimal_sum(row["revenue"] for row in machines)),
            "cost": money(decimal_sum(row["cost"] for row in machines)),
        },
        "equipment": sorted(machines, key=lambda row: (-row["minutes"], row["equipment_id"])),
        "by_type": [
            {**kind, "revenue": money(kind["revenue"])}
            for kind in sorted(by_type.values(), key=lambda k: (-k["minutes"], k["equipment_type"]))
        ],
        "series": series(facts, period, _equipment_period_row),
    }


def _equipment_period_row(days: list[dict[str, Any]]) -> dict[str, Any]:
    machines = [machine for m in days for machine in m[Metric.EQUIPMENT].values()]
    return {
        "sessions": sum(machine["sessions"] for machine in machines),
        "minutes": sum(machine["minutes"] for machine in machines),
        "maintenance_sessions": sum(machine["maintenance_sessions"] for machine in machines),
        "revenue": money(decimal_sum(machine["revenue"] for machine in machines)),
    }
