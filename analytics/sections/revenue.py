"""The revenue section: amounts by source and payment method per period, growth on the period
before."""

from collections import Counter
from decimal import Decimal
from typing import Any

from analytics.rollups import Metric, money
from analytics.sections.base import (
    Facts,
    header,
    series,
)


def revenue(facts: Facts, period: str) -> dict[str, Any]:
    total = _revenue_sum(facts.days.values())
    previous = _revenue_sum(facts.previous_days.values())
    rows = series(facts, period, _revenue_sum)
    for before, row in zip([None, *rows], rows, strict=False):
        row["growth_percent"] = (
            _growth(Decimal(before["amount"]), Decimal(row["amount"])) if before else None
        )
    return {
        **header(facts, period),
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
        "series": rows,
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
