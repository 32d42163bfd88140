"""Inventory report tables: consumption and cost per day, per item, per category."""

from collections.abc import Mapping
from typing import Any

from django.db.models import Avg, Count, F, Max, Q, QuerySet, Sum

from analytics.datasets.base import (
    ZERO,
    Row,
    Span,
    dataset,
    every,
    iterate,
    money,
    rounded,
    span_for,
    stream,
)
from events.models import InventoryAnalytics
from reporting.datasources.base import RowStream
from reporting.tables import Column


def _consumption(span: Span) -> QuerySet[InventoryAnalytics]:
    return InventoryAnalytics.objects.filter(
        organization=span.organization, date__gte=span.start, date__lte=span.end
    ).order_by()


def _quantities(row: Row) -> Row:
    return {**row, "quantity": rounded(row["quantity"], 3)}


@dataset("analytics_inventory_daily", "Inventory: consumption and cost per day")
def inventory_daily(organization_id: Any, parameters: Mapping[str, Any]) -> RowStream:
    span = span_for(organization_id, parameters)
    rows = (
        _consumption(span)
        .values(day=F("date"))
        .annotate(
            quantity=Sum("quantity_consumed"),
            cost=Sum("cost_consumed"),
            items=Count("item_id", distinct=True),
            reorders=Count("id", filter=Q(reorder_triggered=True)),
        )
        .order_by("day")
    )
    zero = {"quantity": 0.0, "cost": ZERO, "items": 0, "reorders": 0}
    return stream(
        [
            Column("day", "date"),
            Column("quantity", "number"),
            money("cost"),
            Column("items", "integer"),
            Column("reorders", "integer"),
        ],
        (_quantities(row) for row in every(iterate(rows), "day", span.days(), zero)),
    )


@dataset(
    "analytics_inventory_items",
    "Inventory: consumption, cost, mean efficiency and mean waste percentage per item",
)
def inventory_items(organization_id: Any, parameters: Mapping[str, Any]) -> RowStream:
    span = span_for(organization_id, parameters)
    rows = (
        _consumption(span)
        .values("item_id")
        .annotate(
            item_name=Max("item_name"),
            category=Max("category"),
            quantity=Sum("quantity_consumed"),
            cost=Sum("cost_consumed"),
            efficiency=Avg("efficiency_score"),
            waste_percent=Avg("waste_percentage"),
            reorders=Count("id", filter=Q(reorder_triggered=True)),
        )
        .order_by("-cost", "item_id")
    )
    means = ("efficiency", "waste_percent")
    return stream(
        [
            Column("item_id"),
            Column("item_name"),
            Column("category"),
            Column("quantity", "number"),
            money("cost"),
            Column("efficiency", "number"),
            Column("waste_percent", "number"),
            Column("reorders", "integer"),
        ],
        (
            {**_quantities(row), **{name: rounded(row[name]) for name in means}}
            for row in iterate(rows)
        ),
    )


@dataset("analytics_inventory_categories", "Inventory: consumption and cost per category")
def inventory_categories(organization_id: Any, parameters: Mapping[str, Any]) -> RowStream:
    span = span_for(organization_id, parameters)
    rows = (
        _consumption(span)
        .values("category")
        .annotate(
            items=Count("item_id", distinct=True),
            quantity=Sum("quantity_consumed"),
            cost=Sum("cost_consumed"),
        )
        .order_by("-cost", "category")
    )
    return stream(
        [
            Column("category"),
            Column("items", "integer"),
            Column("quantity", "number"),
            money("cost"),
        ],
        (_quantities(row) for row in iterate(rows)),
    )
