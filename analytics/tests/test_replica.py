"""Analytics reads on a real streaming replica: a primary cluster and a `pg_basebackup -R`
replica of the test's own (config/tests/services.py), the service under gunicorn on them with
ANALYTICS_DATABASE_URL naming the replica. Both servers log every statement, so where a read ran
is read from their logs."""

import csv
import io
import re
import time
import zipfile
from datetime import UTC, datetime, timedelta

import pytest
import requests

from config.tests.services import HubServer, OwnPostgres, OwnReplica

API = "/api/v1"
ANALYTICS_READS = re.compile(
    r'FROM "(events_usageevent|analytics_analyticssnapshot|analytics_analyticsdailycount)"'
)
LOG_EVERY_STATEMENT = {"log_statement": "all"}


@pytest.fixture
def clusters():
    """A primary and its streaming replica, removed after the test whatever happens."""
    if reason := OwnPostgres.unavailable():
        pytest.skip(reason)
    primary = OwnPostgres(server_settings=LOG_EVERY_STATEMENT)
    replica = OwnReplica(primary, server_settings=LOG_EVERY_STATEMENT)
    try:
        primary.start()
        primary.create_database("hub")
        replica.start()
        yield primary, replica
    finally:
        replica.remove()
        primary.remove()


def hub_on(clusters, tmp_path, **settings: str) -> HubServer:
    primary, replica = clusters
    # Answers never served stale, so each request reads the database it is routed to.
    environment = {
        "ANALYTICS_DATABASE_URL": replica.url_for("hub"),
        "ANALYTICS_MAX_STALENESS": "0",
        **settings,
    }
    return HubServer(primary.url_for("hub"), tmp_path, environment)


@pytest.fixture
def hub(clusters, tmp_path):
    server = hub_on(clusters, tmp_path).start()
    yield server
    server.stop()


@pytest.fixture
def strict_hub(clusters, tmp_path):
    """The replica checked before every read and trusted at most 1 s behind."""
    server = hub_on(
        clusters, tmp_path, ANALYTICS_REPLICA_MAX_LAG="1", ANALYTICS_REPLICA_CHECK_SECONDS="0"
    ).start()
    yield server
    server.stop()


class Where:
    """The statements each server ran while the block ran."""

    def __init__(self, clusters):
        self.primary, self.replica = clusters

    def __enter__(self):
        self.marks = self.primary.log_size(), self.replica.log_size()
        return self

    def __exit__(self, *exc_info):
        self.on_primary = self.primary.log_since(self.marks[0])
        self.on_replica = self.replica.log_since(self.marks[1])


def api(server: HubServer) -> requests.Session:
    session = requests.Session()
    token = session.post(
        f"{server.url}{API}/auth/token/", json={"username": "ops", "password": server.password}
    ).json()["access"]
    session.headers["Authorization"] = f"Bearer {token}"
    return session


def ingest(
    server: HubServer, session: requests.Session, count: int, start: int = 0, days_ago: int = 0
) -> None:
    now = datetime.now(UTC).replace(microsecond=0) - timedelta(days=days_ago)
    events = [
        {"event_id": f"e{start + n}", "event_type": "login", "event_category": "auth",
         "user_id": f"u{n % 3}", "timestamp": (now - timedelta(seconds=n)).isoformat()}
        for n in range(count)
    ]  # fmt: skip
    response = session.post(f"{server.url}{API}/analytics/events/", json={"events": events})
    assert response.status_code == 201, response.text


def week() -> dict[str, str]:
    today = datetime.now(UTC).date()
    return {"start_date": str(today - timedelta(days=6)), "end_date": str(today)}


def total_events(server: HubServer, session: requests.Session, answer: str = "overview") -> int:
    response = session.get(f"{server.url}{API}/analytics/{answer}/", params=week())
    assert response.status_code == 200, response.text
    body = response.json()
    return body["total_events"] if answer == "overview" else body["overview"]["total_events"]


def test_dashboard_and_report_reads_land_on_the_replica_and_writes_and_refresh_on_the_primary(
    clusters, hub
):
    replica = clusters[1]
    session = api(hub)
    with Where(clusters) as ingestion:
        ingest(hub, session, 30, days_ago=2)  # a past day: the refresh snapshots it
    assert "events_usageevent" in ingestion.on_primary  # COPY or INSERT
    assert "events_usageevent" not in ingestion.on_replica
    with Where(clusters) as refresh:
        hub.manage("shell", "-c", "from analytics.tasks import refresh_snapshots as r; r()")
    assert 'INSERT INTO "analytics_analyticssnapshot"' in refresh.on_primary
    assert ANALYTICS_READS.search(refresh.on_primary)
    assert not ANALYTICS_READS.search(refresh.on_replica)
    ingest(hub, session, 5, start=30)  # today's live counters besides the snapshots
    replica.wait_replayed()

    with Where(clusters) as dashboard:
        assert total_events(hub, session) == 35
        assert total_events(hub, session, "dashboard") == 35
    assert {"analytics_analyticsdailycount", "analytics_analyticssnapshot"} <= set(
        ANALYTICS_READS.findall(dashboard.on_replica)
    )
    assert not ANALYTICS_READS.search(dashboard.on_primary), dashboard.on_primary
    assert "pg_current_wal_lsn()" in dashboard.on_primary  # the freshness check

    asked = session.post(
        f"{hub.url}{API}/analytics/reports/request",
        json={"report_type": "usage", "format": "csv", "filters": week()},
    )
    assert asked.status_code == 202, asked.text
    report = asked.json()
    replica.wait_replayed()
    with Where(clusters) as rendering:
        run = "from reporting.services.executions import execution_run as run; run(execution_id={})"
        hub.manage("shell", "-c", run.format(report["execution_id"]))
    assert 'FROM "events_usageevent"' in rendering.on_replica
    assert 'FROM "events_usageevent"' not in rendering.on_primary
    assert 'UPDATE "reporting_reportexecution"' in rendering.on_primary
    assert session.get(report["links"]["self"]).json()["status"] == "succeeded"
    archive = zipfile.ZipFile(io.BytesIO(session.get(report["links"]["download"]).content))
    daily = next(name for name in archive.namelist() if "daily" in name)
    rows = csv.DictReader(io.TextIOWrapper(archive.open(daily), encoding="utf-8-sig"))
    assert sum(int(row["events"]) for row in rows) == 35


def test_a_replica_behind_or_stopped_leaves_the_reads_on_the_primary_with_exact_answers(
    clusters, strict_hub
):
    replica = clusters[1]
    hub, session = strict_hub, api(strict_hub)
    ingest(hub, session, 10)
    replica.wait_replayed()
    with Where(clusters) as fresh:
        assert total_events(hub, session) == 10
    assert ANALYTICS_READS.search(fresh.on_replica)

    replica.sql("SELECT pg_wal_replay_pause()")
    ingest(hub, session, 4, start=10)
    time.sleep(1.5)  # its last replayed commit is now more than ANALYTICS_REPLICA_MAX_LAG old
    with Where(clusters) as behind:
        assert total_events(hub, session) == 14
    assert not ANALYTICS_READS.search(behind.on_replica)
    assert ANALYTICS_READS.search(behind.on_primary)

    replica.sql("SELECT pg_wal_replay_resume()")
    replica.wait_replayed()
    with Where(clusters) as caught_up:
        assert total_events(hub, session, "dashboard") == 14
    assert ANALYTICS_READS.search(caught_up.on_replica)

    replica.stop()
    ingest(hub, session, 1, start=14)
    assert total_events(hub, session) == 15
    assert total_events(hub, session, "dashboard") == 15
    notes = [line for line in hub.log_text().splitlines() if "config.db_router" in line]
    assert [note.split("config.db_router: ")[1] for note in notes] == [
        notes[0].split("config.db_router: ")[1],
        "Analytics reads use the replica again.",
        notes[2].split("config.db_router: ")[1],
    ], hub.log_text()
    assert re.search(r"the replica is behind \(\d+\.\d s behind, more than 1 s\)\.$", notes[0])
    assert "the replica is unreachable (OperationalError: connection to server at" in notes[2]
    assert "Traceback" not in hub.log_text()
