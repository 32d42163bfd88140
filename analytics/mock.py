"""Generated facts for an organisation that has no analytics data yet, when
ANALYTICS_USE_MOCK_DATA is on: a demo dashboard that is never mixed with real numbers.

Each day is drawn from its own random.Random seeded by the organisation and the date, so a day
shows the same numbers in every range and on every request. The shapes are the snapshot
metrics' (see `analytics.rollups`), so `analytics.sections` computes the answers as for real
data; every answer says `"is_mock": true`.
"""

import random
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from accounts.models import Organization
from analytics.rollups import Metric, UserSet, empty_day, money
from analytics.samples.catalogue import EQUIPMENT, ITEMS, SHOP_PAYMENTS, hour_weights, season
from analytics.sections import Facts

MEMBERS = 120
EVENTS_PER_DAY = 140
ACTIONS = (
    ("login", "authentication", 0.3),
    ("logout", "authentication", 0.2),
    ("equipment_reservation", "equipment", 0.2),
    ("inventory_issue", "inventory", 0.15),
    ("project_update", "project", 0.15),
)
REVENUE_SOURCES = ("membership", "equipment_usage", "workshops", "materials")


def facts_fill(facts: Facts, *, organization: Organization) -> Facts:
    facts.is_mock = True
    length = (facts.end_date - facts.start_date).days + 1
    facts.days = _days(organization, facts.start_date, length, facts.today)
    facts.previous_days = _days(
        organization, facts.start_date - timedelta(days=length), length, facts.today
    )
    facts.today_metrics = _day(organization, facts.today)
    facts.projects = _projects(organization, facts.start_date, facts.end_date)
    return facts


def _days(organization: Organization, first: date, length: int, today: date) -> dict:
    days = (first + timedelta(days=n) for n in range(length))
    return {day: _day(organization, day) if day <= today else empty_day() for day in days}


def _day(organization: Organization, day: date) -> dict[str, Any]:
    rng = random.Random(f"{organization.pk}:{day.isoformat()}")
    metrics = empty_day()
    weights = hour_weights(day.weekday())
    if not sum(weights) or not season(day):
        return metrics
    count = int(EVENTS_PER_DAY * season(day) * rng.uniform(0.7, 1.3) * sum(weights) / 30)
    users = 0
    for _ in range(count):
        event_type, category, _ = rng.choices(ACTIONS, weights=[a[2] for a in ACTIONS])[0]
        hour = str(rng.choices(range(24), weights=weights)[0])
        for metric, key in (
            (Metric.EVENTS_BY_TYPE, event_type),
            (Metric.EVENTS_BY_CATEGORY, category),
            (Metric.EVENTS_BY_HOUR, hour),
        ):
            metrics[metric][key] = metrics[metric].get(key, 0) + 1
        users |= 1 << rng.randrange(MEMBERS)
    metrics[Metric.EVENTS] = count
    metrics[Metric.LOGINS] = metrics[Metric.EVENTS_BY_TYPE].get("login", 0)
    metrics[Metric.ACTIVE_USERS] = UserSet(users)
    metrics[Metric.EQUIPMENT] = _equipment(rng)
    metrics[Metric.INVENTORY] = _inventory(rng)
    metrics[Metric.REVENUE] = _revenue(rng, metrics[Metric.EQUIPMENT])
    return metrics


def _equipment(rng: random.Random) -> dict[str, Any]:
    machines = {}
    for machine in rng.sample(EQUIPMENT, rng.randint(3, len(EQUIPMENT))):
        sessions = rng.randint(1, 6)
        minutes = sum(rng.randint(*machine.minutes) for _ in range(sessions))
        machines[machine.equipment_id] = {
            "name": machine.name,
            "type": machine.equipment_type,
            "sessions": sessions,
            "minutes": minutes,
            "maintenance_sessions": int(rng.random() < 0.05),
            "maintenance_minutes": 0,
            "failed_sessions": int(rng.random() < 0.1),
            "revenue": money(Decimal(str(machine.hourly_rate)) * minutes / 60),
            "cost": money(Decimal(str(machine.hourly_rate)) * minutes / 600),
        }
    return machines


def _inventory(rng: random.Random) -> dict[str, Any]:
    items = {}
    for item in ITEMS:
        quantity = round(item.daily_use * rng.uniform(0.3, 1.7), 3)
        items[item.item_id] = {
            "name": item.name,
            "category": item.category,
            "quantity": quantity,
            "cost": money(Decimal(str(item.unit_cost)) * Decimal(str(quantity))),
            "efficiency_sum": round(rng.uniform(70, 98), 2),
            "efficiency_count": 1,
            "waste_sum": round(rng.uniform(1, 12), 2),
            "waste_count": 1,
            "reorders": int(rng.random() < 0.04),
        }
    return items


def _revenue(rng: random.Random, machines: dict[str, Any]) -> dict[str, Any]:
    by_source = {
        "equipment_usage": sum(Decimal(machine["revenue"]) for machine in machines.values()),
        "membership": Decimal(rng.choice((0, 0, 39, 59, 89, 148))),
        "workshops": Decimal(rng.choice((0, 0, 0, 45, 110, 220))),
        "materials": Decimal(rng.randint(0, 6000)) / 100,
    }
    by_method: dict[str, Decimal] = {}
    for amount in by_source.values():
        method = rng.choices(SHOP_PAYMENTS, weights=[p[1] for p in SHOP_PAYMENTS])[0][0]
        by_method[method] = by_method.get(method, Decimal(0)) + amount
    return {
        "transactions": sum(len(machines) if s == "equipment_usage" else 1
                            for s, amount in by_source.items() if amount),
        "amount": money(sum(by_source.values())),
        "by_source": {s: money(amount) for s, amount in sorted(by_source.items()) if amount},
        "by_payment_method": {m: money(a) for m, a in sorted(by_method.items()) if a},
    }  # fmt: skip


def _projects(organization: Organization, start: date, end: date) -> list[dict[str, Any]]:
    rng = random.Random(f"{organization.pk}:projects")
    projects = []
    for number in range(1, 25):
        started = end - timedelta(days=rng.randint(0, max(1, (end - start).days + 60)))
        length = rng.randint(7, 120)
        finished = started + timedelta(days=length)
        done = finished <= end
        if finished < start:
            continue
        items = [
            {"item": item.name, "quantity": round(rng.uniform(0.5, 5), 1),
             "unit_cost": item.unit_cost}
            for item in rng.sample(ITEMS, rng.randint(1, 4))
        ]  # fmt: skip
        projects.append(
            {
                "project_id": f"mock-project-{number:02d}",
                "name": f"Mock project {number}",
                "status": "completed" if done else rng.choice(("active", "planning", "on_hold")),
                "start_date": started,
                "end_date": finished if done else None,
                "bom_cost": sum(
                    Decimal(str(line["unit_cost"])) * Decimal(str(line["quantity"]))
                    for line in items
                ),
                "bom_item_count": len(items),
                "bom_items": items,
            }
        )
    return projects
