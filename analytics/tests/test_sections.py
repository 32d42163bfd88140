"""inventory, equipment, projects, revenue and dashboard against a plain-Python computation
over the same generated records (`expected.py`), in Europe/Berlin with records next to local
midnight; the role gate and organisation isolation on every analytics endpoint; mock data."""

import random
from datetime import date, datetime, timedelta

import pytest
from django.core.cache import cache

from analytics.services import snapshots_refresh
from analytics.tests import expected
from analytics.tests.conftest import NOW, events_post, generated_events

BERLIN = "Europe/Berlin"
TODAY = date(2025, 4, 2)
HOURS = {
    "mon": ["14:00-22:00"],
    "tue": ["10:00-13:00", "14:00-22:00"],
    "wed": ["10:00-22:00"],
    "thu": ["10:00-22:00"],
    "fri": ["10:00-22:00"],
    "sat": ["09:00-18:00"],
}
MACHINES = (
    ("printer-01", "Prusa #1", "3d_printer"),
    ("laser-01", "Epilog", "laser_cutter"),
    ("cnc-01", "Shapeoko", "cnc"),
)
ITEMS = (("pla", "PLA (kg)", "filament"), ("ply", "Plywood", "sheet"), ("resin", "Resin", "resin"))
SECTIONS = ("inventory", "equipment", "projects", "revenue")
ENDPOINTS = ("dashboard", "overview", "usage", *SECTIONS)


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def generated_facts(seed: int = 11, days: int = 70) -> dict[str, list[dict]]:
    rng = random.Random(seed)
    span = int(timedelta(days=days).total_seconds())
    sessions = []
    for n in range(160):
        machine = rng.choice(MACHINES)
        start = NOW - timedelta(seconds=rng.randrange(span))
        sessions.append(
            {
                "session_id": f"s{n}",
                "equipment_id": machine[0],
                "equipment_name": machine[1],
                "equipment_type": machine[2],
                "user_id": f"u{rng.randrange(9)}",
                "usage_type": rng.choice(["session"] * 8 + ["training", "maintenance"]),
                "status": rng.choice(["completed"] * 8 + ["failed", "cancelled"]),
                "start_time": _iso(start),
                "duration_minutes": rng.randrange(5, 240),
                "cost": f"{rng.randrange(0, 900) / 100:.2f}",
                "revenue": f"{rng.randrange(0, 9000) / 100:.2f}",
            }
        )
    # Sunday 23:30 UTC is Monday in Berlin (a new week).
    sessions.append(
        {
            "session_id": "night",
            "equipment_id": "cnc-01",
            "equipment_name": "Shapeoko",
            "equipment_type": "cnc",
            "user_id": "owl",
            "usage_type": "session",
            "status": "completed",
            "start_time": "2025-03-16T23:30:00Z",
            "duration_minutes": 45,
            "cost": "1.00",
            "revenue": "15.00",
        }
    )
    inventory = [
        {
            "item_id": item[0],
            "item_name": item[1],
            "category": item[2],
            "date": (TODAY - timedelta(days=back)).isoformat(),
            "quantity_consumed": rng.randrange(1, 60) / 10,
            "cost_consumed": f"{rng.randrange(100, 9000) / 100:.2f}",
            "efficiency_score": rng.choice([None, rng.randrange(600, 990) / 10]),
            "waste_percentage": rng.choice([None, rng.randrange(0, 200) / 10]),
            "reorder_triggered": rng.random() < 0.1,
        }
        for back in range(days)
        for item in ITEMS
        if rng.random() < 0.7
    ]
    payments = [
        {
            "transaction_id": f"t{n}",
            "timestamp": _iso(NOW - timedelta(seconds=rng.randrange(span))),
            "revenue_source": rng.choice(
                ["membership", "equipment_usage", "workshops", "materials"]
            ),
            "amount": f"{rng.randrange(100, 12000) / 100:.2f}",
            "payment_method": rng.choice(["card", "cash", "sepa_direct_debit", ""]),
        }
        for n in range(220)
    ]
    # 22:30 UTC on 31 March is 1 April in Berlin (a new month).
    payments.append(
        {
            "transaction_id": "late",
            "timestamp": "2025-03-31T22:30:00Z",
            "revenue_source": "workshops",
            "amount": "45.00",
            "payment_method": "card",
        }
    )
    projects = []
    for n in range(30):
        start = TODAY - timedelta(days=rng.randrange(0, 120))
        end = start + timedelta(days=rng.randrange(3, 60))
        status = (
            "completed"
            if end < TODAY and rng.random() < 0.7
            else rng.choice(["active", "planning", "on_hold", "cancelled"])
        )
        bom = [
            {
                "item": rng.choice(["PLA", "Arduino", "Plywood", "M3 screws"]),
                "quantity": rng.randrange(1, 40) / 10,
                "unit_cost": rng.choice([2.5, 6.0, 22.0]),
            }
            for _ in range(rng.randrange(0, 4))
        ]
        projects.append(
            {
                "project_id": f"p{n}",
                "name": f"Project {n}",
                "status": status,
                "start_date": start.isoformat(),
                "end_date": end.isoformat() if status in ("completed", "cancelled") else None,
                "bom_cost": f"{sum(line['quantity'] * line['unit_cost'] for line in bom):.2f}",
                "bom_items": bom,
            }
        )
    return {
        "equipment-usage": sessions,
        "inventory-records": inventory,
        "revenue-transactions": payments,
        "project-records": projects,
    }


def post_facts(client, facts: dict[str, list[dict]], capture) -> None:
    for table, records in facts.items():
        for first in range(0, len(records), 500):
            with capture(execute=True):
                response = client.post(
                    f"/api/v1/analytics/{table}",
                    {"records": records[first : first + 500]},
                    format="json",
                )
            assert response.status_code == 201, response.content


@pytest.fixture
def berlin_facts(organization, admin_client_api, frozen_now, django_capture_on_commit_callbacks):
    organization.time_zone = BERLIN
    organization.opening_hours = HOURS
    organization.save()
    facts = generated_facts()
    post_facts(admin_client_api, facts, django_capture_on_commit_callbacks)
    events = generated_events()
    events_post(admin_client_api, events, django_capture_on_commit_callbacks)
    return {**facts, "events": events}


def _want(name: str, facts: dict, start: date, end: date, period: str) -> dict:
    if name == "equipment":
        return expected.equipment(
            facts["equipment-usage"], BERLIN, HOURS, start, end, TODAY, period
        )
    if name == "inventory":
        return expected.inventory(facts["inventory-records"], start, end, period)
    if name == "revenue":
        return expected.revenue(facts["revenue-transactions"], BERLIN, start, end, period)
    return expected.projects(facts["project-records"], start, end, period)


def _subset(answer: dict, want: dict) -> dict:
    return {key: answer[key] for key in want}


@pytest.mark.parametrize("name", SECTIONS)
@pytest.mark.parametrize("period", ["daily", "weekly", "monthly"])
@pytest.mark.parametrize("refreshed", [True, False], ids=["from-snapshots", "from-dirty-days"])
def test_section_matches_an_independent_computation(
    admin_client_api, organization, berlin_facts, name, period, refreshed
):
    if refreshed:
        snapshots_refresh(organization=organization)
    start, end = date(2025, 3, 1), TODAY
    response = admin_client_api.get(
        f"/api/v1/analytics/{name}", {"start_date": start, "end_date": end, "period": period}
    )
    assert response.status_code == 200, response.content
    answer = response.json()
    want = _want(name, berlin_facts, start, end, period)
    assert _subset(answer, want) == want
    assert answer["is_mock"] is False
    assert (answer["time_zone"], answer["period"]) == (BERLIN, period)


def test_the_sessions_and_payments_next_to_midnight_count_on_the_berlin_day(
    admin_client_api, organization, berlin_facts
):
    snapshots_refresh(organization=organization)
    week = {"start_date": "2025-03-17", "end_date": "2025-03-17", "period": "weekly"}
    answer = admin_client_api.get("/api/v1/analytics/equipment", week).json()
    night = next(s for s in berlin_facts["equipment-usage"] if s["session_id"] == "night")
    assert answer["series"][0]["period_start"] == "2025-03-17"
    assert night["duration_minutes"] <= answer["totals"]["minutes"]
    april = {"start_date": "2025-04-01", "end_date": "2025-04-01", "period": "monthly"}
    answer = admin_client_api.get("/api/v1/analytics/revenue", april).json()
    assert answer["series"][0]["period_start"] == "2025-04-01"
    assert answer["by_source"]["workshops"] >= "45.00"
    march_31 = {"start_date": "2025-03-31", "end_date": "2025-03-31"}
    late = admin_client_api.get("/api/v1/analytics/revenue", march_31).json()
    want = expected.revenue(
        berlin_facts["revenue-transactions"], BERLIN, date(2025, 3, 31), date(2025, 3, 31), "daily"
    )
    assert late["totals"]["amount"] == want["totals"]["amount"]


def test_dashboard_holds_every_section_as_the_endpoints_answer_it(
    admin_client_api, organization, berlin_facts
):
    snapshots_refresh(organization=organization)
    query = {"start_date": "2025-03-01", "end_date": "2025-04-02", "period": "weekly"}
    dashboard = admin_client_api.get("/api/v1/analytics/dashboard", query).json()
    assert dashboard["is_mock"] is False
    for name in ("usage", *SECTIONS):
        section = admin_client_api.get(f"/api/v1/analytics/{name}", query).json()
        for key in ("start_date", "end_date", "period", "time_zone", "is_mock", "computed_at"):
            section.pop(key)
        assert dashboard[name] == section, name
    start, end = date(2025, 3, 1), TODAY
    for name in SECTIONS:
        want = _want(name, berlin_facts, start, end, "weekly")
        assert _subset(dashboard[name], want) == want
    usage = expected.usage(berlin_facts["events"], BERLIN, start, end, "weekly")
    assert _subset(dashboard["usage"], usage) == usage


def test_overview_cards_match_an_independent_computation(
    admin_client_api, organization, berlin_facts
):
    snapshots_refresh(organization=organization)
    start, end = date(2025, 3, 4), TODAY
    answer = admin_client_api.get(
        "/api/v1/analytics/overview", {"start_date": start, "end_date": end}
    ).json()
    machines = expected.equipment(
        berlin_facts["equipment-usage"], BERLIN, HOURS, start, end, TODAY, "daily"
    )
    stock = expected.inventory(berlin_facts["inventory-records"], start, end, "daily")
    money = expected.revenue(berlin_facts["revenue-transactions"], BERLIN, start, end, "daily")
    work = [
        p
        for p in berlin_facts["project-records"]
        if p["status"] == "active" and date.fromisoformat(p["start_date"]) <= end
    ]
    assert answer["revenue"] == money["totals"]["amount"]
    assert answer["equipment_hours"] == round(machines["totals"]["minutes"] / 60, 2)
    assert answer["equipment_utilisation_percent"] == machines["totals"]["utilisation_percent"]
    assert answer["inventory_cost"] == stock["totals"]["cost_consumed"]
    assert answer["active_projects"] == len(work)
    assert (
        answer["events_today"]
        == expected.overview(berlin_facts["events"], BERLIN, start, end, TODAY)["events_today"]
    )


def test_new_facts_show_at_once_when_no_staleness_is_allowed(
    admin_client_api, organization, berlin_facts, settings, django_capture_on_commit_callbacks
):
    settings.ANALYTICS_MAX_STALENESS = 0
    query = {"start_date": "2025-03-01", "end_date": "2025-04-02"}
    before = admin_client_api.get("/api/v1/analytics/revenue", query).json()
    again = admin_client_api.get("/api/v1/analytics/revenue", query).json()
    assert again["computed_at"] == before["computed_at"]
    payment = {
        "transaction_id": "new",
        "timestamp": "2025-03-20T10:00:00Z",
        "revenue_source": "materials",
        "amount": "10.00",
    }
    post_facts(
        admin_client_api, {"revenue-transactions": [payment]}, django_capture_on_commit_callbacks
    )
    after = admin_client_api.get("/api/v1/analytics/revenue", query).json()
    assert after["totals"]["transactions"] == before["totals"]["transactions"] + 1


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_analysts_are_refused_and_super_admins_answered(
    analyst_client, super_admin_client, endpoint
):
    assert analyst_client.get(f"/api/v1/analytics/{endpoint}").status_code == 403
    assert super_admin_client.get(f"/api/v1/analytics/{endpoint}").status_code == 200


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_another_organisations_data_never_shows(
    admin_client_api,
    organization,
    other_organization,
    frozen_now,
    django_capture_on_commit_callbacks,
    endpoint,
):
    from accounts.tests.factories import MembershipFactory

    outsider = MembershipFactory(organization=other_organization, role="admin").user
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(outsider)
    post_facts(client, generated_facts(), django_capture_on_commit_callbacks)
    events_post(client, generated_events(), django_capture_on_commit_callbacks)
    snapshots_refresh()
    answer = admin_client_api.get(
        f"/api/v1/analytics/{endpoint}", {"start_date": "2025-02-01", "end_date": "2025-04-02"}
    ).json()
    numbers = _numbers(answer)
    assert numbers, endpoint
    assert not any(numbers), endpoint
    foreign = client.get(
        f"/api/v1/analytics/{endpoint}", {"start_date": "2025-02-01", "end_date": "2025-04-02"}
    ).json()
    assert any(_numbers(foreign)), endpoint


def _numbers(answer) -> list:
    """Every count and amount in an answer (not dates, hours or weekdays)."""
    found = []
    if isinstance(answer, dict):
        for key, value in answer.items():
            if key in ("hour", "weekday", "open_minutes"):
                continue
            if isinstance(value, bool):
                continue
            if isinstance(value, int | float) or (isinstance(value, str) and key in _AMOUNTS):
                found.append(float(value))
            else:
                found += _numbers(value)
    elif isinstance(answer, list):
        for value in answer:
            found += _numbers(value)
    return found


_AMOUNTS = {"amount", "revenue", "cost", "inventory_cost", "previous_amount", "bom_cost"}


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_bad_ranges_name_the_field(admin_client_api, endpoint):
    response = admin_client_api.get(
        f"/api/v1/analytics/{endpoint}", {"start_date": "2025-03-02", "end_date": "2025-03-01"}
    )
    assert response.status_code == 400
    assert "start_date" in response.json()


def test_mock_data_fills_an_empty_organisation_and_never_mixes_with_real_data(
    admin_client_api, organization, settings, frozen_now, django_capture_on_commit_callbacks
):
    settings.ANALYTICS_USE_MOCK_DATA = True
    settings.ANALYTICS_MAX_STALENESS = 0
    cache.clear()
    query = {"start_date": "2025-03-01", "end_date": "2025-04-02"}
    first = admin_client_api.get("/api/v1/analytics/dashboard", query).json()
    assert first["is_mock"] is True
    assert first["usage"]["totals"]["events"] > 0
    assert first["equipment"]["equipment"]
    assert first["revenue"]["totals"]["transactions"] > 0
    cache.clear()
    again = admin_client_api.get("/api/v1/analytics/dashboard", query).json()
    assert again["usage"] == first["usage"]  # the same generated days every time

    one_payment = {
        "transaction_id": "real",
        "timestamp": "2025-03-20T10:00:00Z",
        "revenue_source": "materials",
        "amount": "10.00",
    }
    post_facts(
        admin_client_api,
        {"revenue-transactions": [one_payment]},
        django_capture_on_commit_callbacks,
    )
    real = admin_client_api.get("/api/v1/analytics/dashboard", query).json()
    assert real["is_mock"] is False
    assert real["usage"]["totals"]["events"] == 0
    assert real["revenue"]["totals"]["amount"] == "10.00"


def test_mock_data_is_off_by_default(admin_client_api, organization):
    answer = admin_client_api.get("/api/v1/analytics/dashboard").json()
    assert answer["is_mock"] is False
    assert answer["usage"]["totals"]["events"] == 0


def test_utilisation_counts_opening_hours_up_to_today_only(
    admin_client_api, organization, berlin_facts
):
    start, end = date(2025, 3, 20), TODAY + timedelta(days=10)
    answer = admin_client_api.get(
        "/api/v1/analytics/equipment", {"start_date": start, "end_date": end}
    ).json()
    want = expected.equipment(
        berlin_facts["equipment-usage"], BERLIN, HOURS, start, end, TODAY, "daily"
    )
    # Thursday 20 March to Wednesday 2 April: two Mondays (8 h), two Tuesdays (11 h), six
    # Wednesdays to Fridays (12 h), two Saturdays (9 h), two closed Sundays.
    assert answer["open_minutes"] == want["open_minutes"] == (2 * 8 + 2 * 11 + 6 * 12 + 2 * 9) * 60
    assert _subset(answer, want) == want
