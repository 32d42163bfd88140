"""The answers computed independently in plain Python over the events the test sent."""

from collections import Counter, defaultdict
from datetime import date, datetime, timedelta
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
