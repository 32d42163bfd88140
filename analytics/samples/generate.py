"""Rows of a sample makerspace year, produced one day at a time from one random.Random(seed).

Every draw comes from that one generator in a fixed order, so a seed, a day count, an event
count and an end day give the same rows. Rows are plain tuples in the column order of
`COLUMNS`; the caller adds the organisation and writes them in batches.
"""

import itertools
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from .catalogue import (
    EQUIPMENT,
    ITEMS,
    MEMBERSHIP_PAYMENTS,
    PARTS,
    PLANS,
    SHOP_PAYMENTS,
    WORKSHOP_SLOTS,
    WORKSHOPS,
    hour_weights,
    season,
)

COLUMNS = {
    "events": ("user_id", "event_type", "event_category", "metadata", "timestamp"),
    "sessions": (
        "equipment_id",
        "equipment_name",
        "equipment_type",
        "user_id",
        "project_id",
        "usage_type",
        "status",
        "start_time",
        "end_time",
        "duration_minutes",
        "materials_used",
        "cost",
        "revenue",
        "session_id",
    ),
    "inventory": (
        "item_id",
        "item_name",
        "category",
        "date",
        "quantity_consumed",
        "cost_consumed",
        "efficiency_score",
        "waste_percentage",
        "reorder_triggered",
    ),
    "projects": (
        "project_id",
        "name",
        "status",
        "start_date",
        "end_date",
        "bom_cost",
        "bom_item_count",
        "bom_items",
    ),
    "revenue": (
        "transaction_id",
        "timestamp",
        "revenue_source",
        "amount",
        "currency",
        "payment_method",
        "customer_id",
    ),
}
ACTIONS = (
    ("equipment_reservation", "equipment", 0.35),
    ("inventory_issue", "inventory", 0.3),
    ("project_update", "project", 0.35),
)
CENT = Decimal("0.01")


@dataclass
class Member:
    user_id: str
    plan: str
    price: int
    payment_method: str
    billing_day: int
    joined: date
    projects: list[str] = field(default_factory=list)


@dataclass
class Day:
    """One day's rows, each list in its table's column order."""

    day: date
    events: list[tuple] = field(default_factory=list)
    sessions: list[tuple] = field(default_factory=list)
    inventory: list[tuple] = field(default_factory=list)
    revenue: list[tuple] = field(default_factory=list)


def money(value: float) -> Decimal:
    return Decimal(str(round(value, 2))).quantize(CENT)


def pick(rng: random.Random, weighted: tuple) -> str:
    return rng.choices([entry[0] for entry in weighted], weights=[e[-1] for e in weighted])[0]


class Makerspace:
    def __init__(self, *, seed: int, days: int, events: int, end: date, zone: ZoneInfo):
        self.rng = random.Random(seed)
        self.zone = zone
        self.first_day = end - timedelta(days=days)
        self.days = [self.first_day + timedelta(days=offset) for offset in range(days)]
        self.quotas = self._quotas(events)
        self.members = self._members(max(40, min(2000, events // 300)))
        self.member_weights = list(
            itertools.accumulate(self.rng.paretovariate(1.5) for _ in self.members)
        )
        self.stock = {item.item_id: item.reorder_quantity * 1.5 for item in ITEMS}
        self.transactions = itertools.count(1)
        self.member_by_id = {member.user_id: member for member in self.members}

    # --- the fixed cast --------------------------------------------------------------------

    def _quotas(self, events: int) -> list[int]:
        """Events per day in proportion to opening hours and season, summing to `events`."""
        weights = [sum(hour_weights(day.weekday())) * season(day) for day in self.days]
        trend = [0.85 + 0.3 * index / max(1, len(self.days) - 1) for index in range(len(weights))]
        weights = [weight * growth for weight, growth in zip(weights, trend, strict=True)]
        total = sum(weights) or 1.0
        exact = [events * weight / total for weight in weights]
        quotas = [int(share) for share in exact]
        by_remainder = sorted(range(len(exact)), key=lambda index: quotas[index] - exact[index])
        for index in by_remainder[: events - sum(quotas)]:
            quotas[index] += 1
        return quotas

    def _members(self, count: int) -> list[Member]:
        members = []
        for number in range(1, count + 1):
            plan = pick(self.rng, PLANS)
            price = next(entry[1] for entry in PLANS if entry[0] == plan)
            early = self.rng.random() < 0.7
            joined = self.first_day - timedelta(days=self.rng.randint(1, 900))
            if not early:
                joined = self.first_day + timedelta(days=self.rng.randint(0, len(self.days) - 1))
            members.append(
                Member(
                    user_id=f"member-{number:04d}",
                    plan=plan,
                    price=price,
                    payment_method=pick(self.rng, MEMBERSHIP_PAYMENTS),
                    billing_day=joined.day if joined.day <= 28 else 28,
                    joined=joined,
                )
            )
        return members

    def projects_rows(self) -> Iterator[tuple]:
        count = max(20, len(self.members) // 2)
        last_day = self.days[-1]
        for number in range(1, count + 1):
            owner = self.rng.choice(self.members)
            project_id = f"project-{number:04d}"
            owner.projects.append(project_id)
            start = self.first_day + timedelta(days=self.rng.randint(-60, len(self.days) - 1))
            length = self.rng.randint(7, 180)
            end = (
                start + timedelta(days=length)
                if start + timedelta(days=length) < last_day
                else None
            )
            status = self._project_status(end)
            bom = self._bom()
            yield (
                project_id,
                f"{owner.user_id}'s {self.rng.choice(PROJECT_KINDS)}",
                status,
                start,
                end if status in ("completed", "cancelled") else None,
                sum((money(line["quantity"] * line["unit_cost"]) for line in bom), Decimal(0)),
                len(bom),
                bom,
            )

    def _project_status(self, end: date | None) -> str:
        if end is not None:
            return "cancelled" if self.rng.random() < 0.1 else "completed"
        return pick(self.rng, (("planning", 0.2), ("active", 0.65), ("on_hold", 0.15)))

    def _bom(self) -> list[dict]:
        lines = []
        for item in self.rng.sample(ITEMS, self.rng.randint(1, 4)):
            quantity = round(self.rng.uniform(0.5, 6), 1)
            lines.append({"item": item.name, "quantity": quantity, "unit_cost": item.unit_cost})
        for part, unit_cost in self.rng.sample(PARTS, self.rng.randint(0, 4)):
            quantity = self.rng.randint(1, 4)
            lines.append({"item": part, "quantity": quantity, "unit_cost": unit_cost})
        return lines

    # --- one day at a time -------------------------------------------------------------------

    def days_rows(self) -> Iterator[Day]:
        for day, quota in zip(self.days, self.quotas, strict=True):
            rows = Day(day=day)
            self._visits(rows, quota)
            self._inventory(rows)
            self._memberships(rows)
            self._workshops(rows)
            yield rows

    def _at(self, day: date, minute_of_day: float) -> datetime:
        local = datetime(day.year, day.month, day.day, tzinfo=self.zone)
        return (local + timedelta(minutes=minute_of_day)).astimezone(UTC)

    def _visits(self, rows: Day, quota: int) -> None:
        if quota <= 0:
            return
        weights = hour_weights(rows.day.weekday())
        hours = list(itertools.accumulate(weights))
        closing = 60 * (max(hour for hour, weight in enumerate(weights) if weight) + 1)
        visits, planned = [], 0
        while planned < quota:
            visits.append(self._visit(rows.day, hours, closing))
            planned += len(visits[-1])
        events = [event for visit in visits for event in visit][:quota]
        events.sort(key=lambda event: event[4])
        rows.events.extend(events)
        for event in events:
            if event[1] == "equipment_reservation":
                rows.sessions.append(self._session(event))
                self._session_payment(rows, rows.sessions[-1])
            elif event[1] == "inventory_issue" and self.rng.random() < 0.4:
                self._materials_sale(rows, event)

    def _visit(self, day: date, hours: list[float], closing: int) -> list[tuple]:
        member = self.rng.choices(self.members, cum_weights=self.member_weights)[0]
        hour = self.rng.choices(range(24), cum_weights=hours)[0]
        arrive = hour * 60 + self.rng.uniform(0, 60)
        # Nobody stays much past closing time.
        stay = max(10, min(self.rng.randint(30, 240), int(closing + 15 - arrive)))
        login = {"method": self.rng.choice(("rfid", "app", "web")), "plan": member.plan}
        visit = [(member.user_id, "login", "authentication", login, self._at(day, arrive))]
        for _ in range(self.rng.randint(1, 4)):
            when = self._at(day, arrive + self.rng.uniform(1, stay - 1))
            visit.append(self._action(member, when))
        logout = {"visit_minutes": stay}
        visit.append(
            (member.user_id, "logout", "authentication", logout, self._at(day, arrive + stay))
        )
        return visit

    def _action(self, member: Member, when: datetime) -> tuple:
        event_type, category, _ = self.rng.choices(ACTIONS, weights=[a[2] for a in ACTIONS])[0]
        if event_type == "equipment_reservation":
            equipment = self.rng.choice(EQUIPMENT)
            minutes = self.rng.randint(*equipment.minutes)
            metadata = {"equipment_id": equipment.equipment_id, "duration_minutes": minutes}
        elif event_type == "inventory_issue":
            item = self.rng.choice(ITEMS)
            metadata = {"item_id": item.item_id, "quantity": self.rng.randint(1, 5)}
        else:
            project = self.rng.choice(member.projects or ["project-0001"])
            status = self.rng.choice(("progress", "bom_changed", "photo_added", "completed"))
            metadata = {"project_id": project, "update": status}
        return (member.user_id, event_type, category, metadata, when)

    def _session(self, event: tuple) -> tuple:
        user_id, _, _, metadata, reserved = event
        equipment = EQUIPMENT_BY_ID[metadata["equipment_id"]]
        status = pick(self.rng, (("completed", 0.9), ("failed", 0.06), ("cancelled", 0.04)))
        minutes = metadata["duration_minutes"]
        if status != "completed":
            minutes = max(1, minutes // self.rng.randint(2, 10))
        start = reserved + timedelta(minutes=5)
        used = round(equipment.per_hour * minutes / 60, 3)
        cost = money(used * ITEM_BY_ID[equipment.material].unit_cost)
        usage_type = pick(self.rng, (("session", 0.93), ("training", 0.05), ("maintenance", 0.02)))
        paid = status == "completed" and usage_type != "maintenance"
        revenue = money(equipment.hourly_rate * minutes / 60) if paid else CENT * 0
        session_id = f"session-{next(self.transactions):09d}"
        return (
            equipment.equipment_id,
            equipment.name,
            equipment.equipment_type,
            user_id,
            self._session_project(user_id),
            usage_type,
            status,
            start,
            start + timedelta(minutes=minutes),
            minutes,
            {equipment.material: used},
            cost,
            revenue,
            session_id,
        )

    def _session_project(self, user_id: str) -> str:
        projects = self.member_by_id[user_id].projects
        return self.rng.choice(projects) if projects and self.rng.random() < 0.6 else ""

    def _revenue(self, rows: Day, when: datetime, source: str, amount, method, customer) -> None:
        transaction_id = f"sample-{next(self.transactions):09d}"
        rows.revenue.append((transaction_id, when, source, amount, "EUR", method, customer))

    def _session_payment(self, rows: Day, session: tuple) -> None:
        if session[12] > 0:
            method = pick(self.rng, SHOP_PAYMENTS)
            self._revenue(rows, session[8], "equipment_usage", session[12], method, session[3])

    def _materials_sale(self, rows: Day, event: tuple) -> None:
        item = ITEM_BY_ID[event[3]["item_id"]]
        amount = money(item.unit_cost * event[3]["quantity"] * 1.3)
        method = pick(self.rng, SHOP_PAYMENTS)
        self._revenue(rows, event[4], "materials", amount, method, event[0])

    def _inventory(self, rows: Day) -> None:
        busy = len(rows.events) / (sum(self.quotas) / len(self.quotas) or 1)
        for item in ITEMS:
            used = round(item.daily_use * busy * self.rng.uniform(0.6, 1.4), 2)
            if used <= 0:
                continue
            self.stock[item.item_id] -= used
            reorder = self.stock[item.item_id] <= item.reorder_point
            if reorder:
                self.stock[item.item_id] += item.reorder_quantity
            waste = round(self.rng.uniform(2, 15), 1)
            rows.inventory.append(
                (
                    item.item_id,
                    item.name,
                    item.category,
                    rows.day,
                    used,
                    money(used * item.unit_cost),
                    round(1 - waste / 100 - self.rng.uniform(0, 0.1), 3),
                    waste,
                    reorder,
                )
            )

    def _memberships(self, rows: Day) -> None:
        for member in self.members:
            if member.billing_day == rows.day.day and member.joined <= rows.day:
                when = self._at(rows.day, 3 * 60 + self.rng.uniform(0, 60))
                amount = money(member.price)
                self._revenue(
                    rows, when, "membership", amount, member.payment_method, member.user_id
                )

    def _workshops(self, rows: Day) -> None:
        if season(rows.day) == 0:
            return
        for weekday, hour in WORKSHOP_SLOTS:
            if weekday != rows.day.weekday() or self.rng.random() > 0.6:
                continue
            _, price = self.rng.choice(WORKSHOPS)
            for seat in range(self.rng.randint(4, 12)):
                member = self.rng.random() < 0.5
                customer = self.rng.choice(self.members).user_id if member else f"guest-{seat}"
                when = self._at(rows.day, hour * 60 - self.rng.uniform(0, 120))
                method = pick(self.rng, SHOP_PAYMENTS)
                self._revenue(rows, when, "workshops", money(price), method, customer)


PROJECT_KINDS = (
    "desk lamp",
    "CNC sign",
    "robot arm",
    "shelf",
    "drone frame",
    "cosplay armour",
    "weather station",
    "guitar body",
)
EQUIPMENT_BY_ID = {equipment.equipment_id: equipment for equipment in EQUIPMENT}
ITEM_BY_ID = {item.item_id: item for item in ITEMS}
