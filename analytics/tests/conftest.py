import random
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

# A Wednesday in CEST; the generated events reach back over the switch from CET (30 March).
NOW = datetime(2025, 4, 2, 10, 0, tzinfo=UTC)
CATEGORIES = {
    "login": "authentication",
    "logout": "authentication",
    "equipment_reservation": "equipment",
    "inventory_issue": "inventory",
}


@pytest.fixture
def frozen_now():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def event(moment: datetime, event_type: str = "login", user_id: str = "u1") -> dict:
    return {
        "event_type": event_type,
        "event_category": CATEGORIES[event_type],
        "user_id": user_id,
        "timestamp": moment.isoformat().replace("+00:00", "Z"),
    }


def generated_events(*, seed: int = 7, count: int = 400, days: int = 45) -> list[dict]:
    """Events spread over the last `days` days up to NOW, plus ones next to local midnight."""
    rng = random.Random(seed)
    span = int(timedelta(days=days).total_seconds())
    events = [
        event(
            NOW - timedelta(seconds=rng.randrange(span)),
            rng.choice(list(CATEGORIES)),
            f"u{rng.randrange(15)}",
        )
        for _ in range(count)
    ]
    # 23:30 UTC is 00:30 the next day in Berlin: Sunday 16 March UTC is Monday 17 (a new week)
    # and 31 March UTC is 1 April (a new month).
    events += [
        event(datetime(2025, 3, 16, 23, 30, tzinfo=UTC), "equipment_reservation", "night-owl"),
        event(datetime(2025, 3, 31, 22, 30, tzinfo=UTC), "inventory_issue", "night-owl"),
        event(datetime(2025, 4, 2, 5, 0, tzinfo=UTC), "login", "early-bird"),
    ]
    return events


def events_post(client, events: list[dict], capture) -> None:
    with capture(execute=True):
        response = client.post("/api/v1/analytics/events", {"events": events}, format="json")
    assert response.status_code == 201, response.content
