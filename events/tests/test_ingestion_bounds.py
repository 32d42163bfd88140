"""Ingestion bounds, through the API: JSON size and depth, the range of times and dates, capped
strings and numbers. Each refusal stores nothing and names the index, the field and the reason."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from events.models import RevenueAnalytics, UsageEvent

API = "/api/v1/analytics"
EVENTS = f"{API}/events"


def event(n: int, **changes):
    return {"event_type": "login", "event_category": "authentication",
            "timestamp": "2024-01-10T10:00:00Z", "event_id": f"e-{n}", **changes}  # fmt: skip


def nested(depth: int) -> dict:
    value: dict = {}
    for _ in range(depth - 1):
        value = {"inner": value}
    return value


def refused(response, name: str = "events") -> list[tuple[int, str, str]]:
    return [(e["index"], e["field"], e["reason"]) for e in response.json()[name]]


def test_metadata_of_16_kb_is_stored_and_one_byte_more_is_a_413(viewer_client):
    # {"note":"…"} is 11 bytes around the text.
    fits = event(1, metadata={"note": "x" * (16 * 1024 - 11)})
    assert viewer_client.post(EVENTS, fits, format="json").status_code == 201
    too_big = event(2, metadata={"note": "x" * (16 * 1024 - 10)})
    response = viewer_client.post(EVENTS, {"events": [event(3), too_big]}, format="json")
    assert response.status_code == 413
    assert response["Content-Type"] == "application/json"
    assert refused(response) == [(1, "metadata", "At most 16 KB as JSON.")]
    assert UsageEvent.objects.count() == 1


def test_a_2_mb_metadata_is_a_413_naming_the_field(viewer_client):
    response = viewer_client.post(EVENTS, event(1, metadata={"blob": "x" * 2_000_000}),
                                  format="json")  # fmt: skip
    assert response.status_code == 413
    assert refused(response) == [(0, "metadata", "At most 16 KB as JSON.")]


def test_metadata_nested_8_deep_is_stored_and_9_deep_is_a_400(viewer_client):
    stored = viewer_client.post(EVENTS, event(1, metadata=nested(8)), format="json")
    assert stored.status_code == 201
    response = viewer_client.post(EVENTS, event(2, metadata=nested(9)), format="json")
    assert response.status_code == 400
    assert refused(response) == [(0, "metadata", "At most 8 levels of nested objects and lists.")]


def test_lists_count_as_levels_in_the_fact_tables_json_too(viewer_client):
    deep = [[[[[[[[[1]]]]]]]]]  # 9 lists
    project = {"project_id": "p-1", "start_date": "2024-01-10", "bom_items": deep}
    response = viewer_client.post(f"{API}/project-records", project, format="json")
    assert response.status_code == 400
    assert refused(response, "records") == [
        (0, "bom_items", "At most 8 levels of nested objects and lists.")
    ]


@pytest.mark.parametrize(
    "timestamp",
    ["0001-01-01T00:00:00Z", "1999-12-31T23:59:59Z", "9999-12-31T23:59:59Z",
     "9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00+05:00"],
)  # fmt: skip
def test_a_timestamp_before_2000_or_after_tomorrow_is_a_400(viewer_client, timestamp):
    response = viewer_client.post(EVENTS, event(1, timestamp=timestamp), format="json")
    assert response.status_code == 400
    assert refused(response) == [(0, "timestamp", "Between 2000-01-01 and a day from now (UTC).")]
    assert not UsageEvent.objects.exists()


@time_machine.travel("2025-06-01T12:00:00Z", tick=False)
def test_the_edges_of_the_time_range_are_stored(viewer_client):
    tomorrow = (timezone.now() + timedelta(days=1)).isoformat()
    batch = [event(1, timestamp="2000-01-01T00:00:00Z"), event(2, timestamp=tomorrow)]
    assert viewer_client.post(EVENTS, {"events": batch}, format="json").status_code == 201
    later = event(3, timestamp=(timezone.now() + timedelta(days=1, seconds=1)).isoformat())
    assert viewer_client.post(EVENTS, later, format="json").status_code == 400


def test_fact_table_times_and_dates_are_bounded_too(viewer_client):
    payment = {"transaction_id": "t-1", "timestamp": "9999-01-01T00:00:00Z",
               "revenue_source": "membership", "amount": "49.00"}  # fmt: skip
    response = viewer_client.post(f"{API}/revenue-transactions", payment, format="json")
    assert refused(response, "records") == [
        (0, "timestamp", "Between 2000-01-01 and a day from now (UTC).")
    ]
    consumption = {"item_id": "pla", "date": "0001-01-01", "quantity_consumed": 1}
    response = viewer_client.post(f"{API}/inventory-records", consumption, format="json")
    assert response.status_code == 400
    assert refused(response, "records") == [
        (0, "date", "Between 2000-01-01 and a day from now (UTC).")
    ]
    assert not RevenueAnalytics.objects.exists()


@pytest.mark.parametrize(
    ("field", "limit"), [("event_type", 64), ("event_category", 64), ("user_id", 128),
                         ("event_id", 128)],
)  # fmt: skip
def test_every_string_field_is_capped_at_its_column(viewer_client, field, limit):
    assert viewer_client.post(EVENTS, event(1, **{field: "a" * limit}),
                              format="json").status_code == 201  # fmt: skip
    response = viewer_client.post(EVENTS, event(2, **{field: "b" * (limit + 1)}), format="json")
    assert response.status_code == 400
    assert refused(response) == [(0, field, f"A string of at most {limit} characters.")]


def test_numbers_out_of_the_columns_range_are_a_400_not_a_500(viewer_client):
    session = {"equipment_id": "laser", "user_id": "u1", "start_time": "2024-01-10T10:00:00Z",
               "duration_minutes": 10**12, "cost": "-99999999999.00",
               "revenue": "1" * 100}  # fmt: skip
    response = viewer_client.post(f"{API}/equipment-usage", session, format="json")
    assert response.status_code == 400
    assert refused(response, "records") == [
        (0, "duration_minutes", "A whole number from 0 to 2147483647."),
        (0, "cost", "An amount with at most 2 decimals, e.g. 12.50."),
        (0, "revenue", "An amount with at most 2 decimals, e.g. 12.50."),
    ]
