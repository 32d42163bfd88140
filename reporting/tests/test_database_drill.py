"""Fault drill: PostgreSQL stops for 20 s while reports run and events arrive.

Everything runs on a PostgreSQL cluster of the test's own (config/tests/services.py), never the
shared one: gunicorn serving the API and a Celery worker (filesystem broker), both as in
production. During the outage the API answers JSON 503 naming the database; after it, the
interrupted runs end `succeeded` within their lease, and a batch of events retried by its
client is stored exactly once.
"""

import time

import psycopg2
import pytest
import requests

from config.celery import app
from config.tests.services import HubServer
from conftest import CeleryWorkerProcess

BI = "/api/v1/business-intelligence"
EVENTS = "/api/v1/analytics/events"
SLOW_ROWS = "SELECT i AS n, pg_sleep(0.5)::text AS waited FROM generate_series(1, 16) AS i"


def event(n: int) -> dict:
    day = n % 28 + 1
    return {"event_type": "login", "event_category": "authentication",
            "timestamp": f"2025-03-{day:02d}T10:00:00Z", "event_id": f"drill-{n}"}  # fmt: skip


class Api:
    def __init__(self, server: HubServer):
        self.url = server.url
        token = requests.post(
            f"{self.url}/api/v1/auth/token/",
            json={"username": "ops", "password": server.password},
            timeout=10,
        ).json()["access"]
        self.headers = {"Authorization": f"Bearer {token}"}

    def call(self, method: str, path: str, **options) -> requests.Response:
        return requests.request(
            method, f"{self.url}{path}", headers=self.headers, timeout=30, **options
        )


def execution_states(api: Api, ids: list[int]) -> dict[int, dict]:
    return {pk: api.call("GET", f"{BI}/report-executions/{pk}").json() for pk in ids}


@pytest.fixture
def drill_stack(own_postgres, tmp_path):
    server = HubServer(own_postgres.create_database("hub"), tmp_path).start()
    server.manage("sync_reporting_roles")  # the ops organisation's database role
    worker = CeleryWorkerProcess(
        "filesystem://",
        queue=",".join(app.amqp.queues),
        pool="prefork",
        extra_env={
            **server.env,
            "CELERY_BROKER_URL": "",  # the filesystem broker in the server's VAR_DIR
            "CELERY_RESULT_BACKEND": "",
            "REPORT_LEASE_SECONDS": "30",
            "REPORT_HEARTBEAT_SECONDS": "3",
        },
    ).start()
    yield server, worker
    worker.stop()
    server.stop()


def test_a_database_outage_answers_503_and_loses_no_run_and_no_event(own_postgres, drill_stack):
    server, _ = drill_stack
    api = Api(server)
    source = api.call("POST", f"{BI}/data-sources", json={
        "name": "Slow rows", "source_type": "database", "query": SLOW_ROWS, "config": {},
    })  # fmt: skip
    assert source.status_code == 201, source.text
    template = api.call("POST", f"{BI}/report-templates", json={
        "name": "Slow report", "output_formats": ["csv"], "data_source_ids": [source.json()["id"]],
        "parameters_schema": {"type": "object"},
    })  # fmt: skip
    assert template.status_code == 201, template.text
    ids = []
    for _ in range(2):
        response = api.call("POST", f"{BI}/report-executions",
                            json={"template_id": template.json()["id"]})  # fmt: skip
        assert response.status_code == 202, response.text
        ids.append(response.json()["id"])
    deadline = time.monotonic() + 60
    while "running" not in {e["status"] for e in execution_states(api, ids).values()}:
        assert time.monotonic() < deadline, execution_states(api, ids)
        time.sleep(0.2)
    assert api.call("POST", EVENTS, json={"events": [event(n) for n in range(50)]}).json() == {
        "stored": 50,
        "duplicates": 0,
    }

    own_postgres.stop()
    down_at = time.monotonic()
    answers = []
    retried = {"events": [event(n) for n in range(40, 100)]}  # overlaps the first batch
    while time.monotonic() - down_at < 20:
        for method, path, options in (
            ("GET", f"{BI}/report-executions/{ids[0]}", {}),
            ("POST", EVENTS, {"json": retried}),
        ):
            response = api.call(method, path, **options)
            answers.append(response.status_code)
            assert response.status_code == 503, response.text
            assert response.json()["service"] == "database"
            assert response.headers["Retry-After"]
        time.sleep(2)
    own_postgres.start()
    back_at = time.monotonic()

    # The client retries its batch: only the events it had not stored before count.
    assert api.call("POST", EVENTS, json=retried).json() == {"stored": 50, "duplicates": 10}
    deadline = time.monotonic() + 120
    while {e["status"] for e in execution_states(api, ids).values()} != {"succeeded"}:
        assert time.monotonic() < deadline, execution_states(api, ids)
        time.sleep(0.5)
    recovered = time.monotonic() - back_at
    for execution in execution_states(api, ids).values():
        assert execution["row_count"] == 16
        assert len(execution["outputs"]) == 1
    with psycopg2.connect(own_postgres.url_for("hub")) as connection, connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM events_usageevent")
        assert cur.fetchone() == (100,)
    connection.close()
    print(f"\nPostgreSQL down 20 s: {len(answers)} answers, all JSON 503; both runs succeeded "
          f"{recovered:.1f} s after it came back")  # fmt: skip
