"""The inventory section: consumption and cost per period, top items, efficiency, waste,
reorders."""

from collections import defaultdict
from decimal import Decimal
from typing import Any

from analytics.rollups import Metric, money
from analytics.sections.base import (
    TOP,
    Facts,
    decimal_sum,
    header,
    mean,
    series,
)


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
        **header(facts, period),
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
        "series": series(facts, period, _inventory_period_row),
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
        "cost": decimal_sum(part["cost"] for part in parts),
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
        "mean_efficiency": mean(item["efficiency_sum"], item["efficiency_count"]),
        "mean_waste_percentage": mean(item["waste_sum"], item["waste_count"]),
        "reorders": item["reorders"],
    }


def _inventory_period_row(days: list[dict[str, Any]]) -> dict[str, Any]:
    total = _inventory_sum([item for m in days for item in m[Metric.INVENTORY].values()])
    return {
        "quantity_consumed": round(total["quantity"], 3),
        "cost_consumed": money(total["cost"]),
        "reorders": total["reorders"],
    }
