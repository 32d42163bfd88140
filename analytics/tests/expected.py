"""The answers computed independently in plain Python over the events the test sent."""

from collections import Counter, defaultdict
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo


def _local(events: list[dict], zone: str, start: date, end: date) -> list[tuple[datetime, dict]]:
    moments = [
        (
            datetime.fromisoformat(e["timestamp"].replace("Z", "+00:00")).astimezone(
                ZoneInfo(zone)
            ),
            e,
        )
        for e in events
    ]
    return [(moment, e) for moment, e in moments if start <= moment.date() <= end]


def _bucket(day: date, period: str) -> date:
    if period == "weekly":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1) if period == "monthly" else day


def usage(events: list[dict], zone: str, start: date, end: date, period: str) -> dict:
    rows = _local(events, zone, start, end)
    buckets = {}
    for n in range((end - start).days + 1):
        buckets.setdefault(_bucket(start + timedelta(days=n), period), [])
    for moment, e in rows:
        buckets[_bucket(moment.date(), period)].append(e)
    hours = Counter(moment.hour for moment, _ in rows)
    weekday_hours = Counter((moment.weekday(), moment.hour) for moment, _ in rows)
    busiest = max(range(24), key=lambda hour: (hours[hour], -hour))
    return {
        "totals": {
            "events": len(rows),
            "logins": sum(e["event_type"] == "login" for _, e in rows),
            "active_users": len({e["user_id"] for _, e in rows}),
        },
        "events_by_type": dict(Counter(e["event_type"] for _, e in rows)),
        "events_by_category": dict(Counter(e["event_category"] for _, e in rows)),
        "peak_hours": [{"hour": hour, "events": hours[hour]} for hour in range(24)],
        "peak_hour": busiest if rows else None,
        "peak_hours_by_weekday": [
            {"weekday": weekday, "hour": hour, "events": weekday_hours[weekday, hour]}
            for weekday in range(7)
            for hour in range(24)
        ],
        "series": [
            {
                "period_start": first.isoformat(),
                "events": len(items),
                "active_users": len({e["user_id"] for e in items}),
                "logins": sum(e["event_type"] == "login" for e in items),
                "events_by_type": dict(Counter(e["event_type"] for e in items)),
                "events_by_category": dict(Counter(e["event_category"] for e in items)),
            }
            for first, items in sorted(buckets.items())
        ],
    }


def overview(events: list[dict], zone: str, start: date, end: date, today: date) -> dict:
    rows = _local(events, zone, start, end)
    by_type = defaultdict(int)
    for _, e in rows:
        by_type[e["event_type"]] += 1
    top = sorted(by_type.items(), key=lambda item: (-item[1], item[0]))
    return {
        "total_events": len(rows),
        "active_users": len({e["user_id"] for _, e in rows}),
        "events_today": len(_local(events, zone, today, today)),
        "top_event_type": {"event_type": top[0][0], "events": top[0][1]} if top else None,
    }


# --- the fact tables, computed row by row from the records the test sent -----------------------

CENT = Decimal("0.01")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _money(value) -> str:
    return str(Decimal(value).quantize(CENT))


def _day_of(value: str, zone: str) -> date:
    if len(value) == 10:
        return date.fromisoformat(value)
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(ZoneInfo(zone)).date()


def _in_range(records: list[dict], field: str, zone: str, start: date, end: date) -> list:
    return [
        (_day_of(r[field], zone), r) for r in records if start <= _day_of(r[field], zone) <= end
    ]


def _series_starts(start: date, end: date, period: str) -> list[date]:
    return sorted(
        {_bucket(start + timedelta(days=n), period) for n in range((end - start).days + 1)}
    )


def _open_minutes(hours: dict, start: date, end: date) -> int:
    total = 0
    day = start
    while day <= end:
        for span in hours.get(WEEKDAYS[day.weekday()], []):
            opens, closes = span.split("-")
            to_minutes = [int(part[:2]) * 60 + int(part[3:]) for part in (opens, closes)]
            total += to_minutes[1] - to_minutes[0]
        day += timedelta(days=1)
    return total


def equipment(sessions, zone, hours, start, end, today, period) -> dict:
    rows = _in_range(sessions, "start_time", zone, start, end)
    available = _open_minutes(hours, start, min(end, today))
    machines = {}
    for _, s in rows:
        m = machines.setdefault(
            s["equipment_id"],
            {
                "equipment_id": s["equipment_id"],
                "equipment_name": s["equipment_name"],
                "equipment_type": s["equipment_type"],
                "sessions": 0,
                "minutes": 0,
                "maintenance_sessions": 0,
                "maintenance_minutes": 0,
                "failed_sessions": 0,
                "revenue": Decimal(0),
                "cost": Decimal(0),
            },
        )
        if s["usage_type"] == "maintenance":
            m["maintenance_sessions"] += 1
            m["maintenance_minutes"] += s["duration_minutes"]
        else:
            m["sessions"] += 1
            m["minutes"] += s["duration_minutes"]
        m["failed_sessions"] += s["status"] == "failed"
        m["revenue"] += Decimal(s["revenue"])
        m["cost"] += Decimal(s["cost"])
    listed = []
    for m in machines.values():
        listed.append(
            {
                **m,
                "mean_session_minutes": round(m["minutes"] / m["sessions"], 2)
                if m["sessions"]
                else None,
                "utilisation_percent": round(100 * m["minutes"] / available, 2),
                "revenue": _money(m["revenue"]),
                "cost": _money(m["cost"]),
                "revenue_per_hour": _money(m["revenue"] * 60 / m["minutes"])
                if m["minutes"]
                else None,
            }
        )
    listed.sort(key=lambda m: (-m["minutes"], m["equipment_id"]))
    minutes = sum(m["minutes"] for m in listed)
    sessions_count = sum(m["sessions"] for m in listed)
    by_type = {}
    for m in listed:
        t = by_type.setdefault(m["equipment_type"], [0, 0, Decimal(0)])
        t[0] += m["sessions"]
        t[1] += m["minutes"]
        t[2] += Decimal(m["revenue"])
    series = {first: [0, 0, 0, Decimal(0)] for first in _series_starts(start, end, period)}
    for day, s in rows:
        row = series[_bucket(day, period)]
        maintenance = s["usage_type"] == "maintenance"
        row[0] += not maintenance
        row[1] += 0 if maintenance else s["duration_minutes"]
        row[2] += maintenance
        row[3] += Decimal(s["revenue"])
    return {
        "open_minutes": available,
        "totals": {
            "sessions": sessions_count,
            "minutes": minutes,
            "maintenance_sessions": sum(m["maintenance_sessions"] for m in listed),
            "maintenance_minutes": sum(m["maintenance_minutes"] for m in listed),
            "failed_sessions": sum(m["failed_sessions"] for m in listed),
            "mean_session_minutes": round(minutes / sessions_count, 2),
            "utilisation_percent": round(100 * minutes / (available * len(listed)), 2),
            "revenue": _money(sum(Decimal(m["revenue"]) for m in listed)),
            "cost": _money(sum(Decimal(m["cost"]) for m in listed)),
        },
        "equipment": listed,
        "by_type": [
            {"equipment_type": name, "sessions": t[0], "minutes": t[1], "revenue": _money(t[2])}
            for name, t in sorted(by_type.items(), key=lambda item: (-item[1][1], item[0]))
        ],
        "series": [
            {
                "period_start": first.isoformat(),
                "sessions": r[0],
                "minutes": r[1],
                "maintenance_sessions": r[2],
                "revenue": _money(r[3]),
            }
            for first, r in series.items()
        ],
    }


def inventory(records, start, end, period) -> dict:
    rows = [(date.fromisoformat(r["date"]), r) for r in records]
    rows = [(day, r) for day, r in rows if start <= day <= end]
    items = defaultdict(list)
    for _, r in rows:
        items[r["item_id"]].append(r)

    def numbers(group):
        efficiency = [r["efficiency_score"] for r in group if r.get("efficiency_score") is not None]
        waste = [r["waste_percentage"] for r in group if r.get("waste_percentage") is not None]
        return {
            "quantity_consumed": round(sum(r["quantity_consumed"] for r in group), 3),
            "cost_consumed": _money(sum(Decimal(r["cost_consumed"]) for r in group)),
            "mean_efficiency": round(sum(efficiency) / len(efficiency), 2) if efficiency else None,
            "mean_waste_percentage": round(sum(waste) / len(waste), 2) if waste else None,
            "reorders": sum(bool(r["reorder_triggered"]) for r in group),
        }

    listed = [
        {
            "item_id": item_id,
            "item_name": group[0]["item_name"],
            "category": group[0]["category"],
            **numbers(group),
        }
        for item_id, group in items.items()
    ]
    categories = defaultdict(list)
    for _, r in rows:
        categories[r["category"]].append(r)
    series = {first: [] for first in _series_starts(start, end, period)}
    for day, r in rows:
        series[_bucket(day, period)].append(r)
    return {
        "totals": {"items": len(listed), **numbers([r for _, r in rows])},
        "top_items": sorted(listed, key=lambda i: (-Decimal(i["cost_consumed"]), i["item_id"]))[
            :10
        ],
        "by_category": sorted(
            (
                {
                    "category": name,
                    "quantity_consumed": round(sum(r["quantity_consumed"] for r in g), 3),
                    "cost_consumed": _money(sum(Decimal(r["cost_consumed"]) for r in g)),
                }
                for name, g in categories.items()
            ),
            key=lambda c: (-Decimal(c["cost_consumed"]), c["category"]),
        ),
        "reorders": sorted(
            (
                {"item_id": i["item_id"], "item_name": i["item_name"], "reorders": i["reorders"]}
                for i in listed
                if i["reorders"]
            ),
            key=lambda i: (-i["reorders"], i["item_id"]),
        ),
        "series": [
            {
                "period_start": first.isoformat(),
                **{
                    k: v
                    for k, v in numbers(g).items()
                    if k in ("quantity_consumed", "cost_consumed", "reorders")
                },
            }
            for first, g in series.items()
        ],
    }


def revenue(payments, zone, start, end, period) -> dict:
    length = (end - start).days + 1

    def total(group):
        by_source, by_method = defaultdict(Decimal), defaultdict(Decimal)
        for p in group:
            by_source[p["revenue_source"]] += Decimal(p["amount"])
            by_method[p.get("payment_method") or "unknown"] += Decimal(p["amount"])
        return {
            "amount": _money(sum((Decimal(p["amount"]) for p in group), Decimal(0))),
            "transactions": len(group),
            "by_source": {k: _money(v) for k, v in sorted(by_source.items())},
            "by_payment_method": {k: _money(v) for k, v in sorted(by_method.items())},
        }

    rows = _in_range(payments, "timestamp", zone, start, end)
    before = _in_range(
        payments, "timestamp", zone, start - timedelta(days=length), start - timedelta(days=1)
    )
    now, previous = total([p for _, p in rows]), total([p for _, p in before])
    series = {first: [] for first in _series_starts(start, end, period)}
    for day, p in rows:
        series[_bucket(day, period)].append(p)
    listed, last = [], None
    for first, group in series.items():
        row = {"period_start": first.isoformat(), **total(group)}
        amount = Decimal(row["amount"])
        row["growth_percent"] = round(float((amount - last) * 100 / last), 2) if last else None
        last = amount
        listed.append(row)
    growth = Decimal(now["amount"]) - Decimal(previous["amount"])
    return {
        "totals": {
            "amount": now["amount"],
            "transactions": now["transactions"],
            "mean_transaction": _money(Decimal(now["amount"]) / now["transactions"]),
            "previous_amount": previous["amount"],
            "growth_percent": round(float(growth * 100 / Decimal(previous["amount"])), 2)
            if Decimal(previous["amount"])
            else None,
        },
        "by_source": now["by_source"],
        "by_payment_method": now["by_payment_method"],
        "series": listed,
    }


def projects(records, start, end, period) -> dict:
    rows = [
        p
        for p in records
        if date.fromisoformat(p["start_date"]) <= end
        and (not p.get("end_date") or date.fromisoformat(p["end_date"]) >= start)
    ]
    done = [p for p in rows if p["status"] == "completed" and p.get("end_date")]
    durations = [
        (date.fromisoformat(p["end_date"]) - date.fromisoformat(p["start_date"])).days for p in done
    ]
    materials = {}
    for p in rows:
        for line in p["bom_items"]:
            m = materials.setdefault(line["item"], [0.0, Decimal(0), 0])
            m[0] += line["quantity"]
            m[1] += Decimal(str(line["unit_cost"])) * Decimal(str(line["quantity"]))
            m[2] += 1
    bom = sum((Decimal(p["bom_cost"]) for p in rows), Decimal(0))
    starts = _series_starts(start, end, period)
    started = Counter(
        _bucket(date.fromisoformat(p["start_date"]), period)
        for p in rows
        if start <= date.fromisoformat(p["start_date"]) <= end
    )
    completed = Counter(
        _bucket(date.fromisoformat(p["end_date"]), period)
        for p in done
        if start <= date.fromisoformat(p["end_date"]) <= end
    )
    return {
        "totals": {
            "projects": len(rows),
            "completed": len(done),
            "mean_duration_days": round(sum(durations) / len(durations), 2) if durations else None,
            "bom_cost": _money(bom),
            "mean_bom_cost": _money(bom / len(rows)),
            "bom_items": sum(len(p["bom_items"]) for p in rows),
        },
        "by_status": dict(sorted(Counter(p["status"] for p in rows).items())),
        "top_materials": [
            {"item": name, "quantity": round(m[0], 3), "cost": _money(m[1]), "projects": m[2]}
            for name, m in sorted(materials.items(), key=lambda item: (-item[1][1], item[0]))[:10]
        ],
        "series": [
            {
                "period_start": first.isoformat(),
                "started": started[first],
                "completed": completed[first],
            }
            for first in starts
        ],
    }
