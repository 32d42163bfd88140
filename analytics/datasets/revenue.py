"""Revenue report tables: income per day by source, per payment method, per month."""

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from django.db.models import Count, DateField, Q, QuerySet, Sum
from django.db.models.functions import TruncDate, TruncMonth

from analytics.datasets.base import (
    ZERO,
    Row,
    Span,
    dataset,
    every,
    iterate,
    money,
    percent,
    span_for,
    stream,
)
from events.models import RevenueAnalytics
from reporting.datasources.base import RowStream
from reporting.tables import Column

SOURCES = tuple(RevenueAnalytics.Source.values)


def _payments(span: Span) -> QuerySet[RevenueAnalytics]:
    return RevenueAnalytics.objects.filter(
        organization=span.organization, timestamp__gte=span.since, timestamp__lt=span.until
    ).order_by()


@dataset("analytics_revenue_daily", "Revenue: income per day, by source")
def revenue_daily(organization_id: Any, parameters: Mapping[str, Any]) -> RowStream:
    span = span_for(organization_id, parameters)
    by_source = {
        source: Sum("amount", filter=Q(revenue_source=source), default=ZERO) for source in SOURCES
    }
    rows = (
        _payments(span)
        .annotate(day=TruncDate("timestamp", tzinfo=span.zone))
        .values("day")
        .annotate(**by_source, total=Sum("amount"), transactions=Count("id"))
        .order_by("day")
    )
    zero = {**dict.fromkeys(SOURCES, ZERO), "total": ZERO, "transactions": 0}
    return stream(
        [
            Column("day", "date"),
            *(money(source) for source in SOURCES),
            money("total"),
            Column("transactions", "integer"),
        ],
        every(iterate(rows), "day", span.days(), zero),
    )


@dataset("analytics_revenue_payment_methods", "Revenue: income per payment method")
def revenue_payment_methods(organization_id: Any, parameters: Mapping[str, Any]) -> RowStream:
    span = span_for(organization_id, parameters)
    total = _payments(span).aggregate(total=Sum("amount"))["total"] or ZERO
    rows = (
        _payments(span)
        .values("payment_method")
        .annotate(transactions=Count("id"), amount=Sum("amount"))
        .order_by("-amount", "payment_method")
    )
    described = (
        {
            **row,
            "payment_method": row["payment_method"] or "unspecified",
            "share_percent": percent(row["amount"], total),
        }
        for row in iterate(rows)
    )
    return stream(
        [
            Column("payment_method"),
            Column("transactions", "integer"),
            money("amount"),
            Column("share_percent", "number"),
        ],
        described,
    )


@dataset("analytics_revenue_monthly", "Revenue: income per month, growth on the month before")
def revenue_monthly(organization_id: Any, parameters: Mapping[str, Any]) -> RowStream:
    span = span_for(organization_id, parameters)
    rows = (
        _payments(span)
        .annotate(
            month=TruncMonth("timestamp", tzinfo=span.zone, output_field=DateField()),
        )
        .values("month")
        .annotate(transactions=Count("id"), amount=Sum("amount"))
        .order_by("month")
    )
    months = every(iterate(rows), "month", span.months(), {"transactions": 0, "amount": ZERO})
    return stream(
        [
            Column("month", "date"),
            Column("transactions", "integer"),
            money("amount"),
            Column("growth_percent", "number"),
        ],
        _with_growth(months),
    )


def _with_growth(months: Iterable[Row]) -> Iterator[Row]:
    """Growth on the month before in the listing; none for the first, or after a month of 0."""
    previous = None
    for row in months:
        growth = None if previous is None else percent(row["amount"] - previous, previous)
        yield {**row, "growth_percent": growth}
        previous = row["amount"]
