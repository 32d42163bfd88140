"""Every daily metric of an organisation's local days, computed from the raw tables.

One grouped query per metric family whatever the number of days; a day without data gets
zeros. The snapshot refresh stores these values; the readers compute them live for today and
for days not yet refreshed. Shapes, by `AnalyticsSnapshot.Metric`:

- events, logins: a count.
- events_by_type, events_by_category, events_by_hour: counts by key (hours "0".."23").
- active_users: the day's distinct users, a `UserSet` in memory and, in a snapshot, the hex
  bitmap of their `AnalyticsUser` numbers.
- equipment: by equipment_id, {"name", "type", "sessions", "minutes", "maintenance_sessions",
  "maintenance_minutes", "failed_sessions", "revenue", "cost"}; sessions and minutes leave out
  maintenance (usage_type "maintenance"), which is counted on its own.
- inventory: by item_id, {"name", "category", "quantity", "cost", "efficiency_sum",
  "efficiency_count", "waste_sum", "waste_count", "reorders"}.
- revenue: {"transactions", "amount", "by_source", "by_payment_method"}.

Money is a decimal string with two places, so sums stay exact.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from datetime import time as clock
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import Count, Max, Q, QuerySet, Sum
from django.db.models.functions import ExtractHour, TruncDate

from accounts.models import Organization
from analytics import counters
from analytics.models import AnalyticsSnapshot, AnalyticsUser
from events.models import EquipmentUsageLog, InventoryAnalytics, RevenueAnalytics, UsageEvent

Metric = AnalyticsSnapshot.Metric
DailyMetrics = dict[date, dict[str, Any]]
CENT = Decimal("0.01")
# One rule for the dashboard and the equipment report: maintenance is not use.
MAINTENANCE = Q(usage_type="maintenance")
_COUNTED_BY = {
    Metric.EVENTS_BY_TYPE: "event_type",
    Metric.EVENTS_BY_CATEGORY: "event_category",
    Metric.EVENTS_BY_HOUR: "hour",
}


@dataclass(frozen=True)
class UserSet:
    """Distinct users: bits of numbered users, plus the ids of users not numbered yet (seen
    only in rows newer than the last refresh). A union of days is exact and costs microseconds.
    """

    bits: int = 0
    unnumbered: frozenset[str] = frozenset()

    def __or__(self, other: "UserSet") -> "UserSet":
        return UserSet(self.bits | other.bits, self.unnumbered | other.unnumbered)

    def __len__(self) -> int:
        return self.bits.bit_count() + len(self.unnumbered)

    def to_snapshot(self) -> str:
        if self.unnumbered:
            raise ValueError("Number every user before storing a day's active users.")
        return format(self.bits, "x")

    @classmethod
    def from_snapshot(cls, value: str) -> "UserSet":
        return cls(int(value, 16))


UserNumbers = Callable[[Organization, set[str]], dict[str, int]]
_ID_CHUNK = 5000


def user_numbers_read(organization: Organization, user_ids: set[str]) -> dict[str, int]:
    """The numbers the users already have; a user without one is left out."""
    ids, numbers = sorted(user_ids), {}
    for start in range(0, len(ids), _ID_CHUNK):
        numbers.update(
            AnalyticsUser.objects.filter(
                organization=organization, user_id__in=ids[start : start + _ID_CHUNK]
            ).values_list("user_id", "number")
        )
    return numbers


def money(value: Decimal | str | int | None) -> str:
    return str(Decimal(value or 0).quantize(CENT))


def empty_day() -> dict[str, Any]:
    return {
        Metric.EVENTS: 0,
        Metric.LOGINS: 0,
        Metric.ACTIVE_USERS: UserSet(),
        Metric.EVENTS_BY_TYPE: {},
        Metric.EVENTS_BY_CATEGORY: {},
        Metric.EVENTS_BY_HOUR: {},
        Metric.EQUIPMENT: {},
        Metric.INVENTORY: {},
        Metric.REVENUE: empty_revenue(),
    }


def empty_revenue() -> dict[str, Any]:
    return {"transactions": 0, "amount": money(0), "by_source": {}, "by_payment_method": {}}


def daily_metrics_compute(
    *,
    organization: Organization,
    days: Iterable[date],
    user_numbers: UserNumbers = user_numbers_read,
    counted: bool = False,
    user_pairs: list[tuple[date, str]] | None = None,
) -> DailyMetrics:
    """`user_numbers` gives users their bitmap numbers: the refresh assigns missing ones, a
    reader only looks them up. `counted` reads the events' metrics from the live counters
    instead of the raw events (the fact tables are read raw either way); `user_pairs`, when
    given, receives the days' (day, user_id) pairs."""
    days = set(days)
    result: DailyMetrics = {day: empty_day() for day in days}
    if not days:
        return result
    zone = ZoneInfo(organization.time_zone)
    if counted:
        for day, metrics in counters.counted_read(organization=organization, days=days).items():
            result[day].update(metrics)
        pairs = counters.day_users_read(organization=organization, days=days)
    else:
        events = _on_days(UsageEvent, "timestamp", organization, days, zone)
        _usage_add(result, events, zone)
        pairs = list(events.values_list("day", "user_id").distinct())
    if user_pairs is not None:
        user_pairs.extend(pairs)
    _users_add(result, pairs, lambda ids: user_numbers(organization, ids))
    _equipment_add(result, _on_days(EquipmentUsageLog, "start_time", organization, days, zone))
    _inventory_add(result, organization, days)
    _revenue_add(result, _on_days(RevenueAnalytics, "timestamp", organization, days, zone))
    return result


def _on_days(
    model: type, field: str, organization: Organization, days: set[date], zone: ZoneInfo
) -> QuerySet:
    """Rows whose moment falls on one of the local days, annotated with that `day`."""
    ordered = sorted(days)
    # The moment range lets the organisation + moment index narrow the rows first.
    return (
        model.objects.filter(
            organization=organization,
            **{
                f"{field}__gte": datetime.combine(ordered[0], clock.min, tzinfo=zone),
                f"{field}__lt": datetime.combine(
                    ordered[-1] + timedelta(days=1), clock.min, tzinfo=zone
                ),
            },
        )
        .annotate(day=TruncDate(field, tzinfo=zone))
        .filter(day__in=ordered)
        .order_by()
    )


def _usage_add(result: DailyMetrics, events: QuerySet, zone: ZoneInfo) -> None:
    scalars = events.values("day").annotate(
        events=Count("id"), logins=Count("id", filter=Q(event_type="login"))
    )
    for row in scalars:
        result[row["day"]].update({Metric.EVENTS: row["events"], Metric.LOGINS: row["logins"]})
    events = events.annotate(hour=ExtractHour("timestamp", tzinfo=zone))
    for metric, field in _COUNTED_BY.items():
        for row in events.values("day", field).annotate(count=Count("id")):
            result[row["day"]][metric][str(row[field])] = row["count"]


def _users_add(
    result: DailyMetrics,
    pairs: list[tuple[date, str]],
    numbers_of: Callable[[set[str]], dict[str, int]],
) -> None:
    numbers = numbers_of({user_id for _, user_id in pairs})
    bits: dict[date, int] = {}
    unnumbered: dict[date, set[str]] = {}
    for day, user_id in pairs:
        if user_id in numbers:
            bits[day] = bits.get(day, 0) | (1 << numbers[user_id])
        else:
            unnumbered.setdefault(day, set()).add(user_id)
    for day in bits.keys() | unnumbered.keys():
        users = UserSet(bits.get(day, 0), frozenset(unnumbered.get(day, ())))
        result[day][Metric.ACTIVE_USERS] = users


def _equipment_add(result: DailyMetrics, sessions: QuerySet) -> None:
    rows = sessions.values("day", "equipment_id").annotate(
        name=Max("equipment_name"),
        type=Max("equipment_type"),
        sessions=Count("id", filter=~MAINTENANCE),
        minutes=Sum("duration_minutes", filter=~MAINTENANCE),
        maintenance_sessions=Count("id", filter=MAINTENANCE),
        maintenance_minutes=Sum("duration_minutes", filter=MAINTENANCE),
        failed_sessions=Count("id", filter=Q(status=EquipmentUsageLog.Status.FAILED)),
        revenue=Sum("revenue"),
        cost=Sum("cost"),
    )
    for row in rows:
        result[row["day"]][Metric.EQUIPMENT][row["equipment_id"]] = {
            "name": row["name"] or "",
            "type": row["type"] or "",
            "sessions": row["sessions"],
            "minutes": row["minutes"] or 0,
            "maintenance_sessions": row["maintenance_sessions"],
            "maintenance_minutes": row["maintenance_minutes"] or 0,
            "failed_sessions": row["failed_sessions"],
            "revenue": money(row["revenue"]),
            "cost": money(row["cost"]),
        }


def _inventory_add(result: DailyMetrics, organization: Organization, days: set[date]) -> None:
    rows = (
        InventoryAnalytics.objects.filter(organization=organization, date__in=sorted(days))
        .order_by()
        .values("date", "item_id")
        .annotate(
            name=Max("item_name"),
            category=Max("category"),
            quantity=Sum("quantity_consumed"),
            cost=Sum("cost_consumed"),
            efficiency_sum=Sum("efficiency_score"),
            efficiency_count=Count("efficiency_score"),
            waste_sum=Sum("waste_percentage"),
            waste_count=Count("waste_percentage"),
            reorders=Count("id", filter=Q(reorder_triggered=True)),
        )
    )
    for row in rows:
        result[row["date"]][Metric.INVENTORY][row["item_id"]] = {
            "name": row["name"] or "",
            "category": row["category"] or "",
            "quantity": row["quantity"] or 0.0,
            "cost": money(row["cost"]),
            "efficiency_sum": row["efficiency_sum"] or 0.0,
            "efficiency_count": row["efficiency_count"],
            "waste_sum": row["waste_sum"] or 0.0,
            "waste_count": row["waste_count"],
            "reorders": row["reorders"],
        }


def _revenue_add(result: DailyMetrics, payments: QuerySet) -> None:
    rows = payments.values("day", "revenue_source", "payment_method").annotate(
        transactions=Count("id"), amount=Sum("amount")
    )
    for row in rows:
        revenue = result[row["day"]][Metric.REVENUE]
        amount = Decimal(row["amount"] or 0)
        revenue["transactions"] += row["transactions"]
        revenue["amount"] = money(Decimal(revenue["amount"]) + amount)
        for key, name in (("by_source", "revenue_source"), ("by_payment_method", "payment_method")):
            label = row[name] or "unknown"
            revenue[key][label] = money(Decimal(revenue[key].get(label, 0)) + amount)
