"""/metrics as Prometheus reads it: exact samples after real rows, requests and messages."""

import contextlib
import ipaddress
from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from prometheus_client.parser import text_string_to_metric_families

from analytics.models import AnalyticsDirtyDay, AnalyticsPendingCount
from config.celery import app as celery_app
from config.celery import ping
from delivery.models import Delivery, DeliveryStatus, DeliveryTarget
from reporting.models import ExecutionStatus, ReportExecution
from reporting.tests.factories import ReportTemplateFactory

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
EVENTS = "/api/v1/analytics/events"


def scrape(client, **headers) -> dict[tuple[str, frozenset], float]:
    """Every sample as {(name, labels): value}."""
    response = client.get("/metrics", **headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def sample(samples: dict, name: str, **labels) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def _execution(template, *, status, formats=("csv",), seconds=None, finished_ago=None):
    finished = NOW - finished_ago if finished_ago is not None else None
    return ReportExecution.objects.create(
        organization=template.organization, template=template, status=status,
        output_formats=list(formats),
        started_at=finished - timedelta(seconds=seconds) if finished else None,
        finished_at=finished,
    )  # fmt: skip


@pytest.mark.django_db
def test_executions_deliveries_and_rollup_lag_are_counted_from_the_database(
    client, organization, other_organization
):
    template = ReportTemplateFactory(organization=organization)
    minutes = timedelta(minutes=1)
    with time_machine.travel(NOW, tick=False):
        done = _execution(template, status=ExecutionStatus.SUCCEEDED, formats=["pdf", "csv"],
                          seconds=3, finished_ago=5 * minutes)  # fmt: skip
        _execution(template, status=ExecutionStatus.SUCCEEDED, formats=["pdf"], seconds=40,
                   finished_ago=20 * minutes)  # fmt: skip
        # Outside the last hour; a failure: counted as ended, not in the durations.
        _execution(template, status=ExecutionStatus.SUCCEEDED, formats=["pdf"], seconds=2,
                   finished_ago=90 * minutes)  # fmt: skip
        _execution(template, status=ExecutionStatus.FAILED, seconds=1, finished_ago=minutes)
        for _ in range(3):
            _execution(template, status=ExecutionStatus.QUEUED)
        statuses = [DeliveryStatus.SENT, DeliveryStatus.SENT, DeliveryStatus.FAILED,
                    DeliveryStatus.PENDING, DeliveryStatus.SENT]  # fmt: skip
        for n, status in enumerate(statuses):
            target = DeliveryTarget.objects.create(
                organization=organization, name=f"Finance {n}", kind="email", config={}
            )
            Delivery.objects.create(execution=done, target=target, status=status)
        # The last two were created three hours ago: the pending one still counts as pending.
        old = list(Delivery.objects.order_by("-id")[:2].values_list("id", flat=True))
        Delivery.objects.filter(id__in=old).update(created_at=NOW - 180 * minutes)
        AnalyticsDirtyDay.objects.create(
            organization=organization,
            date=date(2026, 3, 1),
            marked_at=NOW - 90 * timedelta(seconds=1),
        )
        # Today waits for nothing (its live counters are read) unless marked for a recount.
        AnalyticsDirtyDay.objects.create(
            organization=organization, date=date(2026, 3, 2), marked_at=NOW - timedelta(seconds=5)
        )
        AnalyticsDirtyDay.objects.create(
            organization=other_organization, date=date(2026, 3, 2), recount=True,
            marked_at=NOW - timedelta(seconds=5),
        )  # fmt: skip
        for day in (date(2026, 3, 1), date(2026, 3, 2)):  # batches the fold has not taken yet
            AnalyticsPendingCount.objects.create(
                organization=organization, first_day=day, last_day=day, counts=[], users=[]
            )
        samples = scrape(client)

    assert sample(samples, "reporting_hub_database_up") == 1

    def by_status(name, statuses):
        return {status: sample(samples, name, status=status) for status in statuses}

    assert by_status("reporting_hub_executions", ["queued", "running"]) == {
        "queued": 3, "running": 0
    }  # fmt: skip
    # In the last hour: not the run that ended 90 minutes ago.
    assert by_status("reporting_hub_executions_finished", ["succeeded", "failed", "cancelled"]) == {
        "succeeded": 2, "failed": 1, "cancelled": 0
    }  # fmt: skip
    assert by_status("reporting_hub_deliveries", DeliveryStatus.values) == {
        "pending": 0, "sent": 2, "failed": 1, "skipped": 0
    }  # fmt: skip
    assert sample(samples, "reporting_hub_deliveries_pending") == 1
    assert sample(samples, "reporting_hub_rollup_dirty_days") == 2
    assert sample(samples, "reporting_hub_rollup_lag_seconds") == 90
    assert sample(samples, "reporting_hub_live_counts_pending") == 2

    def buckets(output_format):
        return {
            le: sample(samples, "reporting_hub_execution_duration_seconds_bucket",
                       format=output_format, le=le)
            for le in ("1.0", "5.0", "30.0", "60.0", "+Inf")
        }  # fmt: skip

    assert buckets("pdf") == {"1.0": 0, "5.0": 1, "30.0": 1, "60.0": 2, "+Inf": 2}
    assert buckets("csv") == {"1.0": 0, "5.0": 1, "30.0": 1, "60.0": 1, "+Inf": 1}
    assert sample(samples, "reporting_hub_execution_duration_seconds_gsum", format="pdf") == 43
    assert sample(samples, "reporting_hub_execution_duration_seconds_gcount", format="csv") == 1


@pytest.mark.django_db(databases="__all__")  # /healthz checks every database
def test_request_latency_is_labelled_by_route_never_by_path(client):
    before = scrape(client)
    client.get("/healthz")
    client.get("/api/v1/business-intelligence/report-templates/pkzqx/")
    client.get("/no/such/page-pgzqx")
    client.get("/static/no-such-file-stzqx.css")
    client.generic("BREW", "/healthz")
    response = client.get("/metrics")
    text = response.content.decode()
    after = scrape(client)

    def requests(samples, **labels):
        name = "reporting_hub_http_request_duration_seconds_count"
        return sample(samples, name, **labels) or 0

    def grew(**labels):
        return requests(after, **labels) - requests(before, **labels)

    assert grew(route="healthz", method="GET", status="2xx") == 1
    assert grew(route="healthz", method="OTHER", status="4xx") == 1
    assert grew(route="report-template-detail", method="GET", status="4xx") == 1
    assert grew(route="unmatched", method="GET", status="4xx") == 1
    assert grew(route="static", method="GET", status="4xx") == 1
    for raw in ("pkzqx", "pgzqx", "stzqx", "BREW"):
        assert raw not in text


@pytest.mark.django_db
def test_events_ingested_counts_stored_events_not_duplicates(
    client, viewer_client, django_capture_on_commit_callbacks
):
    def ingested() -> float:
        return sample(scrape(client), "reporting_hub_events_ingested_total", table="events") or 0

    start = ingested()
    login = {"event_type": "login", "event_category": "authentication"}
    batch = [{**login, "event_id": f"m-{n}"} for n in range(4)]
    with django_capture_on_commit_callbacks(execute=True):
        assert viewer_client.post(EVENTS, {"events": batch}, format="json").status_code == 201
    assert ingested() - start == 4
    with django_capture_on_commit_callbacks(execute=True):
        viewer_client.post(EVENTS, {"events": [*batch[2:], login]}, format="json")
    assert ingested() - start == 5


@pytest.fixture
def routed_queues():
    """The settings' routed queues, empty before and after: (ping's own queue, `reports`).
    Routes are not changed here: Celery caches its router on first use."""
    queues = list(celery_app.amqp.queues)
    _drain(queues)
    yield celery_app.amqp.router.route({}, ping.name)["queue"].name, "reports"
    _drain(queues)


def _drain(queues):
    with celery_app.connection_for_read() as connection:
        for name in queues:
            with contextlib.suppress(connection.channel_errors):
                connection.default_channel.queue_purge(name)


@pytest.mark.django_db
def test_queue_depth_counts_the_messages_waiting_in_each_routed_queue(client, routed_queues):
    default, reports = routed_queues
    for _ in range(3):
        ping.apply_async()
    for _ in range(2):
        ping.apply_async(queue=reports)
    samples = scrape(client)
    assert sample(samples, "reporting_hub_broker_up") == 1
    assert sample(samples, "reporting_hub_queue_messages", queue=default) == 3
    assert sample(samples, "reporting_hub_queue_messages", queue=reports) == 2
    _drain([default])
    assert sample(scrape(client), "reporting_hub_queue_messages", queue=default) == 0


@pytest.mark.django_db
def test_a_broker_that_is_down_gives_broker_up_0_and_no_queue_depths(client, broker_down):
    samples = scrape(client)
    assert sample(samples, "reporting_hub_broker_up") == 0
    assert not [name for name, _ in samples if name == "reporting_hub_queue_messages"]
    assert sample(samples, "reporting_hub_database_up") == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("token", "networks", "address", "authorization", "allowed"),
    [
        # Neither set: this machine only.
        ("", "", "127.0.0.1", "", True),
        ("", "", "::1", "", True),
        ("", "", "10.0.0.7", "", False),
        # A token: any address that sends it.
        ("s3cret", "", "10.0.0.7", "Bearer s3cret", True),
        ("s3cret", "", "127.0.0.1", "", False),
        ("s3cret", "", "10.0.0.7", "Bearer wrong", False),
        # Networks: those addresses only.
        ("", "10.0.0.0/8", "10.0.0.7", "", True),
        ("", "10.0.0.0/8", "127.0.0.1", "", False),
        # Both: both.
        ("s3cret", "10.0.0.0/8", "10.0.0.7", "Bearer s3cret", True),
        ("s3cret", "10.0.0.0/8", "10.0.0.7", "", False),
        ("s3cret", "10.0.0.0/8", "192.168.1.9", "Bearer s3cret", False),
    ],
)
def test_who_may_scrape(client, settings, token, networks, address, authorization, allowed):
    settings.METRICS_TOKEN = token
    settings.METRICS_ALLOWED_NETWORKS = [ipaddress.ip_network(n) for n in networks.split(",") if n]
    headers = {"REMOTE_ADDR": address}
    if authorization:
        headers["HTTP_AUTHORIZATION"] = authorization
    response = client.get("/metrics", **headers)
    if allowed:
        assert response.status_code == 200
        assert b"reporting_hub_executions" in response.content
    else:
        assert response.status_code == 403
        assert "detail" in response.json()
        assert b"reporting_hub" not in response.content


def test_metrics_stay_out_of_the_openapi_schema(client, db):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    assert not [path for path in schema["paths"] if path.rstrip("/").endswith("/metrics")]
