"""The analytics replica router without a replica: `reporting`, a second connection to the test
database, stands in for one (on PostgreSQL it is no standby, so it always counts as fresh). The
real streaming replica is in analytics/tests/test_replica.py."""

import json
import logging
import os
import subprocess
import sys
from datetime import UTC, date, datetime

import pytest
from django.core.cache import cache
from django.db import OperationalError, connections, transaction
from django.test.utils import CaptureQueriesContext

from accounts.models import Organization
from analytics.selectors import dashboard_get
from config.db_router import (
    AnalyticsReplicaRouter,
    analytics_reads,
    analytics_reads_iterate,
    replica_check_forget,
)
from config.tests.services import BASE_DIR
from events.models import UsageEvent
from events.services import events_ingest

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "reporting"])


@pytest.fixture(autouse=True)
def _unchecked():
    replica_check_forget()
    yield
    replica_check_forget()


@pytest.fixture
def replica(settings) -> str:
    settings.ANALYTICS_READ_DATABASE = "reporting"
    return "reporting"


def read_on() -> str:
    return UsageEvent.objects.all().db


def test_without_a_replica_analytics_reads_use_the_default_database():
    assert analytics_reads(read_on)() == "default"
    assert AnalyticsReplicaRouter().db_for_read(UsageEvent) is None


def test_only_analytics_reads_go_to_the_replica_and_writes_stay_on_the_primary(replica):
    def read_and_write() -> tuple[str, str]:
        made = Organization.objects.create(name="Made", slug="made")
        return read_on(), made._state.db

    assert analytics_reads(read_and_write)() == ("reporting", "default")
    assert read_on() == "default"


def test_inside_a_transaction_reads_stay_on_the_primary(replica):
    with transaction.atomic():
        assert analytics_reads(read_on)() == "default"


def test_objects_read_on_the_replica_are_saved_on_the_primary_and_relate_to_its_objects(
    replica, organization
):
    replicated = analytics_reads(Organization.objects.get)(pk=organization.pk)
    assert replicated._state.db == "reporting"
    replicated.name = "Renamed"
    replicated.save()
    assert Organization.objects.get(pk=organization.pk).name == "Renamed"
    event = UsageEvent.objects.create(
        organization=replicated, event_type="login", event_category="auth", user_id="u1",
        timestamp=datetime.now(UTC),
    )  # fmt: skip
    assert (event._state.db, event.organization.name) == ("default", "Renamed")


def test_a_stream_reads_on_the_replica_at_each_step_and_its_caller_on_the_primary(replica):
    def steps():
        yield read_on()
        yield read_on()

    seen = []
    for step in analytics_reads_iterate(steps()):
        seen.append((step, read_on()))
    assert seen == [("reporting", "default"), ("reporting", "default")]


def test_the_dashboard_is_computed_on_the_replica_with_the_primarys_answer(
    replica, organization, settings
):
    events = [
        {"event_type": "login", "event_category": "auth", "user_id": f"u{n % 2}",
         "timestamp": datetime(2026, 3, 2, 10, n, tzinfo=UTC).isoformat()}
        for n in range(5)
    ]  # fmt: skip
    events_ingest(organization=organization, events=events, default_user_id=None)
    cache.clear()
    query = {"organization": organization, "start_date": date(2026, 3, 1)}
    with CaptureQueriesContext(connections["reporting"]) as on_replica:
        answer = dashboard_get(**query, end_date=date(2026, 3, 7))
    cache.clear()
    settings.ANALYTICS_READ_DATABASE = ""
    with CaptureQueriesContext(connections["reporting"]) as without_replica:
        expected = dashboard_get(**query, end_date=date(2026, 3, 7))
    assert answer["overview"]["total_events"] == 5
    assert {**answer, "computed_at": None} == {**expected, "computed_at": None}
    assert any("analytics_analyticsdailycount" in q["sql"] for q in on_replica.captured_queries)
    assert without_replica.captured_queries == []


def test_an_answer_read_on_the_replica_is_never_taken_for_current(replica, organization, settings):
    """The replica may lack the newest batch whatever the data version says, so its answer is
    cached as stale: with no staleness allowed, the next request computes it again."""
    settings.ANALYTICS_MAX_STALENESS = 0
    events_ingest(organization=organization, default_user_id=None, events=[
        {"event_type": "login", "event_category": "auth", "user_id": "u1",
         "timestamp": datetime(2026, 3, 2, 10, tzinfo=UTC).isoformat()}
    ])  # fmt: skip
    query = {"organization": organization, "start_date": date(2026, 3, 1),
             "end_date": date(2026, 3, 7)}  # fmt: skip
    cache.clear()
    first = dashboard_get(**query)
    with CaptureQueriesContext(connections["reporting"]) as again:
        assert dashboard_get(**query)["overview"] == first["overview"]
    assert any("analytics_" in q["sql"] for q in again.captured_queries)

    settings.ANALYTICS_READ_DATABASE = ""
    cache.clear()
    dashboard_get(**query)
    with CaptureQueriesContext(connections["default"]) as cached:
        dashboard_get(**query)
    assert not [q for q in cached.captured_queries if "analytics_" in q["sql"]]


def test_a_read_that_fails_on_the_replica_runs_again_on_the_primary(replica, caplog):
    runs = []

    def fails_on_the_replica() -> str:
        runs.append(read_on())
        if len(runs) == 1:
            with connections["reporting"].cursor() as cursor:
                _operational_error(cursor)
        return read_on()

    assert analytics_reads(fails_on_the_replica)() == "default"
    assert runs == ["reporting", "default"]
    [warning] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warning.startswith("An analytics read failed after reading the replica (")
    assert warning.endswith("): it runs again on the primary.")


def _operational_error(cursor) -> None:
    """What a standby does to a query that conflicts with recovery: an OperationalError."""
    if cursor.db.vendor == "postgresql":
        cursor.execute("SET statement_timeout = 1")
        cursor.execute("SELECT pg_sleep(1)")
    else:
        cursor.execute("SELECT * FROM no_such_table")


def test_an_error_that_also_fails_on_the_primary_is_raised_from_it(replica):
    runs = []

    def fails_everywhere() -> None:
        runs.append(read_on())
        raise OperationalError(f"down on {runs[-1]}")

    with pytest.raises(OperationalError, match="down on default"):
        analytics_reads(fails_everywhere)()
    assert runs == ["reporting", "default"]


def test_an_error_before_any_read_on_the_replica_is_not_run_again(replica):
    runs = []

    def fails_first() -> None:
        runs.append("run")
        raise OperationalError("primary down")

    with pytest.raises(OperationalError, match="primary down"):
        analytics_reads(fails_first)()
    assert runs == ["run"]


def _analytics_settings(**env: str) -> dict:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ANALYTICS_")}
    script = (
        "import json, config.settings as s; print(json.dumps({"
        "'alias': s.DATABASES.get('analytics'), 'reads': s.ANALYTICS_READ_DATABASE,"
        " 'lag': s.ANALYTICS_REPLICA_MAX_LAG}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=BASE_DIR, env={**clean, **env},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_analytics_database_url_adds_the_analytics_alias_a_mirror_of_the_default_in_tests():
    assert _analytics_settings() == {"alias": None, "reads": "", "lag": 30}
    loaded = _analytics_settings(
        ANALYTICS_DATABASE_URL="postgres://reader@replica:5432/hub",
        ANALYTICS_REPLICA_MAX_LAG="10",
    )
    alias = loaded["alias"]
    assert (loaded["reads"], loaded["lag"]) == ("analytics", 10)
    assert (alias["HOST"], alias["NAME"], alias["USER"]) == ("replica", "hub", "reader")
    assert alias["OPTIONS"]["connect_timeout"] == 3
    assert alias["TEST"] == {"MIRROR": "default"}
