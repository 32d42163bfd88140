import csv
import io

import pytest

from events.models import UsageEvent

EVENTS = "/api/v1/analytics/events"
LOGIN = {"event_type": "login", "event_category": "authentication",
         "metadata": {"login_method": "email", "device": "desktop"}}  # fmt: skip


def event(n: int, **changes):
    return {"event_type": "equipment_reservation", "event_category": "equipment",
            "timestamp": f"2024-01-{n % 28 + 1:02d}T10:00:00Z", "event_id": f"e-{n}",
            **changes}  # fmt: skip


def test_the_seed_body_stores_one_event_for_the_caller(viewer_client, viewer, organization):
    response = viewer_client.post(EVENTS, LOGIN, format="json")
    assert response.status_code == 201
    assert response.json() == {"stored": 1, "duplicates": 0}
    stored = UsageEvent.objects.get()
    assert (stored.organization, stored.user_id, stored.event_type) == (
        organization, str(viewer.pk), "login",
    )  # fmt: skip
    assert stored.metadata == {"login_method": "email", "device": "desktop"}


def test_a_batch_counts_stored_and_duplicate_events(viewer_client):
    first = viewer_client.post(EVENTS, {"events": [event(n) for n in range(5)]}, format="json")
    assert first.json() == {"stored": 5, "duplicates": 0}
    again = [event(n) for n in range(3, 8)] + [event(7)]  # 3 and 4 known, 7 twice in the batch
    second = viewer_client.post(EVENTS, {"events": again}, format="json")
    assert second.json() == {"stored": 3, "duplicates": 3}
    assert UsageEvent.objects.count() == 8


def test_text_and_json_with_tabs_newlines_and_backslashes_are_stored_as_sent(viewer_client):
    # On PostgreSQL a batch goes through COPY's text format, where these characters are special.
    awkward = 'tab\there\nnew line \\N back\\slash, "quoted"'
    sent = event(1, user_id=awkward, metadata={"note": awkward, "nested": [awkward, None]})
    no_id = event(2, event_id=None)  # stored whatever the other events' ids are
    response = viewer_client.post(EVENTS, {"events": [sent, no_id, no_id]}, format="json")
    assert response.json() == {"stored": 3, "duplicates": 0}
    stored = UsageEvent.objects.get(event_id="e-1")
    assert (stored.user_id, stored.metadata) == (awkward.strip(), sent["metadata"])
    assert UsageEvent.objects.filter(event_id=None, metadata={}).count() == 2


def test_a_batch_with_one_bad_event_stores_nothing_and_says_where(viewer_client):
    batch = [event(1), event(2, event_type=""), event(3, timestamp="yesterday"), event(4)]
    response = viewer_client.post(EVENTS, {"events": batch}, format="json")
    assert response.status_code == 400
    errors = response.json()["events"]
    assert [(e["index"], e["field"]) for e in errors] == [(1, "event_type"), (2, "timestamp")]
    assert errors[0]["reason"] == "This field is required: a non-empty string."
    assert errors[1]["reason"].startswith("An ISO 8601 date and time")
    assert not UsageEvent.objects.exists()


def test_a_batch_over_the_limit_is_413(viewer_client, settings):
    settings.ANALYTICS_BATCH_SIZE = 3
    response = viewer_client.post(EVENTS, {"events": [event(n) for n in range(4)]}, format="json")
    assert response.status_code == 413
    assert not UsageEvent.objects.exists()


def test_the_same_event_id_in_two_organisations_is_two_events(
    viewer_client, other_organization, viewer
):
    from accounts.models import Role
    from accounts.tests.factories import MembershipFactory

    MembershipFactory(user=viewer, organization=other_organization, role=Role.VIEWER)
    for org in ("acme", "northwind"):
        response = viewer_client.post(EVENTS, event(1), format="json", HTTP_X_ORGANIZATION=org)
        assert response.json() == {"stored": 1, "duplicates": 0}


def test_user_ids_are_pseudonymised_when_asked(viewer_client, settings):
    settings.ANALYTICS_PSEUDONYMIZE_USERS = True
    settings.ANALYTICS_PSEUDONYMIZE_KEY = "k"
    viewer_client.post(EVENTS, {"events": [event(1, user_id="ada"), event(2, user_id="ada")]},
                       format="json")  # fmt: skip
    ids = set(UsageEvent.objects.values_list("user_id", flat=True))
    assert len(ids) == 1
    assert "ada" not in ids.pop()


@pytest.fixture
def january(viewer_client, organization):
    organization.time_zone = "Europe/Berlin"
    organization.save()
    batch = [
        event(1, timestamp="2023-12-31T23:30:00Z", user_id="u1"),  # Jan 1st, 00:30 in Berlin
        event(2, timestamp="2024-01-15T12:00:00Z", user_id="u2", event_type="login",
              event_category="authentication"),
        event(3, timestamp="2024-01-31T23:30:00Z", user_id="u1"),  # Feb 1st in Berlin
    ]  # fmt: skip
    assert viewer_client.post(EVENTS, {"events": batch}, format="json").status_code == 201


def test_admins_list_events_by_local_dates_and_filters(admin_client_api, january):
    query = {"start_date": "2024-01-01", "end_date": "2024-01-31"}
    results = admin_client_api.get(EVENTS, query).json()["results"]
    assert [e["event_id"] for e in results] == ["e-2", "e-1"]  # newest first; e-3 is February
    login = admin_client_api.get(EVENTS, {**query, "event_type": "login"}).json()["results"]
    assert [e["event_id"] for e in login] == ["e-2"]
    assert admin_client_api.get(EVENTS, {"user_id": "u1"}).json()["results"][0]["event_id"] == "e-3"


def test_cursor_pages_walk_every_event_once(admin_client_api, viewer_client):
    viewer_client.post(EVENTS, {"events": [event(n) for n in range(25)]}, format="json")
    seen, url = [], f"{EVENTS}?page_size=10"
    while url:
        body = admin_client_api.get(url).json()
        seen += [e["event_id"] for e in body["results"]]
        url = body["next"]
    assert sorted(seen) == sorted(f"e-{n}" for n in range(25))


def test_events_stream_as_csv(admin_client_api, january):
    response = admin_client_api.get(EVENTS, {"format": "csv", "start_date": "2024-01-01",
                                             "end_date": "2024-01-31"})  # fmt: skip
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == ["timestamp", "user_id", "event_type", "event_category", "event_id",
                       "metadata"]  # fmt: skip
    assert [row[4] for row in rows[1:]] == ["e-1", "e-2"]


def test_events_csv_neutralises_text_and_metadata_cells_that_start_a_formula(
    admin_client_api, viewer_client
):
    formulas = [event(1, event_type="=HYPERLINK(\"http://evil\",\"x\")", user_id="@me",
                      event_id="+1+cmd"),
                event(2, event_category="-2+3", metadata={"note": "=1+1"})]  # fmt: skip
    posted = viewer_client.post(EVENTS, {"events": formulas}, format="json")
    assert posted.status_code == 201, posted.json()

    response = admin_client_api.get(EVENTS, {"format": "csv", "start_date": "2024-01-01",
                                             "end_date": "2024-01-31"})  # fmt: skip

    body = b"".join(response.streaming_content)
    assert b'"\'=HYPERLINK(""http://evil"",""x"")"' in body
    rows = list(csv.reader(io.StringIO(body.decode())))
    assert [(row[1], row[3], row[4], row[5]) for row in rows[1:]] == [
        ("'@me", "equipment", "'+1+cmd", "{}"),
        (rows[2][1], "'-2+3", "e-2", '{"note": "=1+1"}'),  # a JSON object starts with {
    ]


def test_reading_events_is_for_admins_and_stays_in_the_organisation(
    viewer_client, admin_client_api, other_organization
):
    UsageEvent.objects.create(organization=other_organization, user_id="x", event_type="login",
                              event_category="authentication")  # fmt: skip
    assert viewer_client.get(EVENTS).status_code == 403
    assert admin_client_api.get(EVENTS).json()["results"] == []


def test_an_event_with_a_missing_or_empty_user_id_is_the_callers(viewer_client, viewer):
    batch = [event(1), event(2, user_id=""), event(3, user_id="ada")]
    assert viewer_client.post(EVENTS, {"events": batch}, format="json").status_code == 201
    stored = dict(UsageEvent.objects.values_list("event_id", "user_id"))
    assert stored == {"e-1": str(viewer.pk), "e-2": str(viewer.pk), "e-3": "ada"}


def test_times_with_any_offset_are_stored_as_the_same_instant(viewer_client):
    batch = [event(1, timestamp="2024-01-10T10:00:00+05:30"),
             event(2, timestamp="2024-01-10T10:00:00.250-03:00"),
             event(3, timestamp="2024-01-10T10:00:00+05:30:15"),
             event(4, timestamp="2024-01-10 10:00")]  # fmt: skip
    assert viewer_client.post(EVENTS, {"events": batch}, format="json").status_code == 201
    stored = UsageEvent.objects.values_list("event_id", "timestamp")
    assert {event_id: moment.isoformat() for event_id, moment in stored} == {
        "e-1": "2024-01-10T04:30:00+00:00", "e-2": "2024-01-10T13:00:00.250000+00:00",
        "e-3": "2024-01-10T04:29:45+00:00", "e-4": "2024-01-10T10:00:00+00:00",
    }  # fmt: skip


def test_metadata_keeps_large_integers_and_any_script(viewer_client):
    metadata = {"serial": 2**70, "ratio": 1e16, "small": -0.5, "name": "Zoë 東京 \u2028"}
    response = viewer_client.post(EVENTS, event(1, metadata=metadata), format="json")
    assert response.status_code == 201, response.json()
    assert UsageEvent.objects.get().metadata == metadata


def test_a_batch_mixing_known_and_new_events_stores_the_new_and_marks_their_days(viewer_client):
    from analytics.models import AnalyticsDirtyDay

    viewer_client.post(EVENTS, {"events": [event(1), event(2)]}, format="json")
    AnalyticsDirtyDay.objects.all().delete()
    # On PostgreSQL the batch's first, straight COPY fails on e-1 and is rolled back to its
    # savepoint; the same transaction then stores e-5 and marks its day.
    response = viewer_client.post(EVENTS, {"events": [event(1), event(5)]}, format="json")
    assert response.json() == {"stored": 1, "duplicates": 1}
    assert sorted(UsageEvent.objects.values_list("event_id", flat=True)) == ["e-1", "e-2", "e-5"]
    assert AnalyticsDirtyDay.objects.filter(date="2024-01-06").exists()
