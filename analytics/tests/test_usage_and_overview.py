from datetime import UTC, date, datetime

import pytest

from analytics.services import snapshots_refresh
from analytics.tests import expected
from analytics.tests.conftest import event, events_post, generated_events
from events.services import events_ingest

BERLIN = "Europe/Berlin"
TODAY = date(2025, 4, 2)


@pytest.fixture
def berlin_events(organization, admin_client_api, frozen_now, django_capture_on_commit_callbacks):
    organization.time_zone = BERLIN
    organization.save()
    events = generated_events()
    events_post(admin_client_api, events, django_capture_on_commit_callbacks)
    return events


def _without_meta(answer: dict, *names: str) -> dict:
    return {key: answer[key] for key in names}


@pytest.mark.parametrize("period", ["daily", "weekly", "monthly"])
@pytest.mark.parametrize("refreshed", [True, False], ids=["from-snapshots", "from-dirty-days"])
def test_usage_matches_an_independent_computation(
    admin_client_api, organization, berlin_events, period, refreshed
):
    if refreshed:
        snapshots_refresh(organization=organization)
    start, end = date(2025, 2, 25), TODAY
    response = admin_client_api.get(
        "/api/v1/analytics/usage",
        {"start_date": start, "end_date": end, "period": period},
    )
    assert response.status_code == 200
    want = expected.usage(berlin_events, BERLIN, start, end, period)
    assert _without_meta(response.json(), *want) == want
    assert response.json()["computed_at"]


def test_an_event_at_23_30_utc_counts_on_the_next_berlin_day_week_and_hour(
    admin_client_api, organization, frozen_now, django_capture_on_commit_callbacks
):
    organization.time_zone = BERLIN
    organization.save()
    sunday_night = event(datetime(2025, 3, 16, 23, 30, tzinfo=UTC), "login", "u1")
    events_post(admin_client_api, [sunday_night], django_capture_on_commit_callbacks)
    snapshots_refresh(organization=organization)

    query = {"start_date": "2025-03-10", "end_date": "2025-03-23", "period": "weekly"}
    answer = admin_client_api.get("/api/v1/analytics/usage", query).json()

    assert [(row["period_start"], row["events"]) for row in answer["series"]] == [
        ("2025-03-10", 0),
        ("2025-03-17", 1),
    ]
    assert answer["peak_hour"] == 0
    assert answer["peak_hours"][0] == {"hour": 0, "events": 1}


@pytest.mark.parametrize("refreshed", [True, False], ids=["from-snapshots", "from-dirty-days"])
def test_peak_hours_by_weekday_count_each_event_in_its_local_weekday_and_hour(
    admin_client_api, organization, frozen_now, django_capture_on_commit_callbacks, refreshed
):
    organization.time_zone = BERLIN
    organization.save()
    events = [
        event(datetime(2025, 3, 16, 23, 30, tzinfo=UTC)),  # Monday 00:30 in Berlin (CET)
        event(datetime(2025, 3, 22, 10, 15, tzinfo=UTC), "equipment_reservation"),  # Saturday 11:15
        event(
            datetime(2025, 3, 22, 10, 45, tzinfo=UTC), "equipment_reservation", "u2"
        ),  # Saturday 11:45
        event(datetime(2025, 3, 30, 1, 30, tzinfo=UTC)),  # Sunday 03:30, first hour of CEST
        event(datetime(2025, 4, 1, 21, 59, tzinfo=UTC)),  # Tuesday 23:59 (CEST)
    ]
    events_post(admin_client_api, events, django_capture_on_commit_callbacks)
    if refreshed:
        snapshots_refresh(organization=organization)

    query = {"start_date": "2025-03-10", "end_date": "2025-04-02"}
    cells = admin_client_api.get("/api/v1/analytics/usage", query).json()["peak_hours_by_weekday"]

    assert len(cells) == 7 * 24
    assert cells[0] == {"weekday": 0, "hour": 0, "events": 1}
    assert cells[-1] == {"weekday": 6, "hour": 23, "events": 0}
    assert {(c["weekday"], c["hour"]): c["events"] for c in cells if c["events"]} == {
        (0, 0): 1,
        (5, 11): 2,
        (6, 3): 1,
        (1, 23): 1,
    }


def test_overview_matches_an_independent_computation(admin_client_api, organization, berlin_events):
    snapshots_refresh(organization=organization)
    start, end = date(2025, 3, 4), TODAY
    response = admin_client_api.get(
        "/api/v1/analytics/overview", {"start_date": start, "end_date": end}
    )
    assert response.status_code == 200
    want = expected.overview(berlin_events, BERLIN, start, end, TODAY)
    assert _without_meta(response.json(), *want) == want
    assert want["events_today"] > 0


def test_overview_defaults_to_the_last_30_days(admin_client_api, organization, berlin_events):
    answer = admin_client_api.get("/api/v1/analytics/overview").json()
    assert (answer["start_date"], answer["end_date"]) == ("2025-03-04", "2025-04-02")
    want = expected.overview(berlin_events, BERLIN, date(2025, 3, 4), TODAY, TODAY)
    assert _without_meta(answer, *want) == want


def test_another_organisations_data_never_appears(
    admin_client_api, organization, other_organization, berlin_events
):
    events_ingest(
        organization=other_organization, events=generated_events(seed=99), default_user_id=None
    )
    snapshots_refresh()
    start = date(2025, 2, 25)
    usage = admin_client_api.get(
        "/api/v1/analytics/usage", {"start_date": start, "end_date": TODAY, "period": "weekly"}
    ).json()
    overview = admin_client_api.get(
        "/api/v1/analytics/overview", {"start_date": start, "end_date": TODAY}
    ).json()

    want = expected.usage(berlin_events, BERLIN, start, TODAY, "weekly")
    assert _without_meta(usage, *want) == want
    want = expected.overview(berlin_events, BERLIN, start, TODAY, TODAY)
    assert _without_meta(overview, *want) == want


@pytest.mark.parametrize("endpoint", ["usage", "overview"])
def test_an_analyst_is_refused(analyst_client, endpoint):
    response = analyst_client.get(f"/api/v1/analytics/{endpoint}")
    assert response.status_code == 403


@pytest.mark.parametrize(
    "query",
    [
        {"start_date": "2025-03-02", "end_date": "2025-03-01"},
        {"period": "hourly"},
        {"start_date": "2020-01-01", "end_date": "2025-01-01"},
    ],
)
def test_a_bad_query_is_a_400(admin_client_api, query):
    response = admin_client_api.get("/api/v1/analytics/usage", query)
    assert response.status_code == 400
