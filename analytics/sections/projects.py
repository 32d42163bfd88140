"""The projects section: by status, duration, bill-of-materials cost and materials."""

from collections import Counter
from decimal import Decimal
from typing import Any

from analytics.rollups import money
from analytics.sections.base import (
    TOP,
    Facts,
    decimal_sum,
    header,
    mean,
    period_start,
)


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
    bom_total = decimal_sum(p["bom_cost"] for p in rows)
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
        **header(facts, period),
        "totals": {
            "projects": len(rows),
            "completed": len(finished),
            "mean_duration_days": mean(sum(durations), len(durations)),
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
