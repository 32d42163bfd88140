"""Finished executions copied to Elasticsearch, read back through the official client.

The cluster is `fake_elasticsearch` unless ELASTICSEARCH_TEST_URL is set: then the same tests run
against that cluster (use a throwaway one: they write and delete the `reporting-executions`
template and its March and April 2025 indices). Outages and refused documents need the fake.
"""

import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from elasticsearch import Elasticsearch

from delivery.models import Delivery
from delivery.services import target_create
from reporting.models import ExecutionStatus, ReportExecution, ReportOutput
from reporting.services import search_sync
from reporting.services.executions import execution_request, execution_run
from reporting.services.search_sync import executions_sync, search_sync_on_commit
from reporting.tasks import sync_report_data_to_elasticsearch
from reporting.tests import fake_elasticsearch

FINISHED_AT = datetime(2025, 3, 31, 23, 30, tzinfo=UTC)  # still March in UTC
MARCH_INDEX = "reporting-executions-2025.03"
APRIL_INDEX = "reporting-executions-2025.04"


@dataclass
class Cluster:
    client: Elasticsearch
    fake: fake_elasticsearch.FakeElasticsearch | None

    def needs_fake(self) -> fake_elasticsearch.FakeElasticsearch:
        if self.fake is None:
            pytest.skip("this needs the fake cluster")
        return self.fake

    def document(self, index: str, execution: ReportExecution) -> dict:
        return self.client.get(index=index, id=str(execution.pk))

    def count(self) -> int:
        self.client.indices.refresh(index=search_sync.ALIAS)
        return self.client.count(index=search_sync.ALIAS)["count"]


@pytest.fixture
def cluster(settings) -> Iterator[Cluster]:
    settings.ELASTICSEARCH_ENABLED = True
    url = os.environ.get("ELASTICSEARCH_TEST_URL")
    if url:
        settings.ELASTICSEARCH_URL = url
        client = Elasticsearch(url)
        yield Cluster(client=client, fake=None)
        for index in (MARCH_INDEX, APRIL_INDEX):
            client.indices.delete(index=index, ignore_unavailable=True)
        client.indices.delete_index_template(name=search_sync.INDEX_TEMPLATE)
        client.close()
        return
    server, fake = fake_elasticsearch.start()
    settings.ELASTICSEARCH_URL = f"http://127.0.0.1:{server.server_address[1]}"
    client = Elasticsearch(settings.ELASTICSEARCH_URL)
    yield Cluster(client=client, fake=fake)
    client.close()
    server.shutdown()
    server.server_close()


def finished(template, status=ExecutionStatus.SUCCEEDED, finished_at=FINISHED_AT, **fields):
    return ReportExecution.objects.create(
        organization=template.organization,
        template=template,
        status=status,
        output_formats=["csv", "pdf"],
        queued_at=finished_at - timedelta(minutes=5),
        started_at=finished_at - timedelta(seconds=90),
        finished_at=finished_at,
        **fields,
    )


def output(execution, output_format, size):
    return ReportOutput.objects.create(
        execution=execution,
        format=output_format,
        file=f"acme/{execution.pk}/report.{output_format}",
        filename=f"report.{output_format}",
        size=size,
        sha256="0" * 64,
        content_type="application/octet-stream",
        expires_at=execution.finished_at + timedelta(days=30),
    )


def synced_ids() -> set[int]:
    return set(ReportExecution.objects.exclude(search_synced_at=None).values_list("pk", flat=True))


def test_disabled_sync_sends_no_request_and_queues_nothing(
    settings, cluster, billing_template, django_capture_on_commit_callbacks
):
    settings.ELASTICSEARCH_ENABLED = False
    execution = finished(billing_template)
    fake = cluster.needs_fake()

    with django_capture_on_commit_callbacks() as queued:
        search_sync_on_commit(execution)
    assert executions_sync() == 0
    sync_report_data_to_elasticsearch(execution.pk)

    assert queued == []
    assert fake.requests == []
    assert synced_ids() == set()


def test_a_finished_execution_is_indexed_into_its_month_with_outputs_and_deliveries(
    cluster, billing_template, viewer
):
    execution = finished(billing_template, requested_by=viewer, trigger="schedule", row_count=42)
    output(execution, "csv", 1200)
    output(execution, "pdf", 34000)
    target = target_create(organization=billing_template.organization, created_by=None,
                           name="Finance inbox", kind="email",
                           config={"recipients": ["ana@acme.test"]})  # fmt: skip
    Delivery.objects.create(execution=execution, target=target, status="sent", attempts=2)

    sync_report_data_to_elasticsearch(execution.pk)

    found = cluster.document(MARCH_INDEX, execution)
    assert found["_id"] == str(execution.pk)
    document = found["_source"]
    organization = billing_template.organization
    assert document["organization"] == {"id": str(organization.pk), "slug": "acme",
                                        "name": "Acme Makerspace"}  # fmt: skip
    assert document["template"] == {"id": billing_template.pk, "slug": "monthly-billing-summary",
                                    "name": "Monthly Billing Summary"}  # fmt: skip
    assert document["report_type"] == "financial"
    assert document["trigger"] == "schedule"
    assert document["requested_by"] == viewer.username
    assert document["status"] == "succeeded"
    assert datetime.fromisoformat(document["finished_at"]) == FINISHED_AT
    assert datetime.fromisoformat(document["queued_at"]) == FINISHED_AT - timedelta(minutes=5)
    assert document["duration_seconds"] == 90.0
    assert document["row_count"] == 42
    assert document["formats"] == ["csv", "pdf"]
    assert sorted(document["outputs"], key=lambda o: o["format"]) == [
        {"format": "csv", "size": 1200},
        {"format": "pdf", "size": 34000},
    ]
    assert document["output_bytes"] == 35200
    assert document["deliveries"] == [
        {"target_kind": "email", "target_name": "Finance inbox", "status": "sent", "attempts": 2}
    ]
    assert document["error"] == ""
    assert synced_ids() == {execution.pk}


def test_syncing_again_overwrites_the_one_document(cluster, billing_template):
    execution = finished(billing_template, status=ExecutionStatus.FAILED, error="source down")

    assert executions_sync() == 1
    ReportExecution.objects.filter(pk=execution.pk).update(error="source still down")
    assert executions_sync() == 0  # already synced: the catch-up skips it
    assert executions_sync(execution_ids=[execution.pk]) == 1

    assert cluster.count() == 1
    assert cluster.document(MARCH_INDEX, execution)["_source"]["error"] == "source still down"


def test_the_first_sync_creates_the_index_template_and_each_month_joins_the_alias(
    cluster, billing_template
):
    finished(billing_template)
    finished(billing_template, finished_at=datetime(2025, 4, 1, 0, 30, tzinfo=UTC))

    assert executions_sync() == 2

    [template] = cluster.client.indices.get_index_template(name="reporting-executions")[
        "index_templates"
    ]
    body = template["index_template"]
    assert body["index_patterns"] == ["reporting-executions-*"]
    assert list(body["template"]["aliases"]) == ["reporting-executions"]
    properties = body["template"]["mappings"]["properties"]
    assert properties["finished_at"] == {"type": "date"}
    assert properties["status"] == {"type": "keyword"}
    assert properties["row_count"] == {"type": "long"}
    aliased = cluster.client.indices.get_alias(name="reporting-executions")
    assert sorted(aliased) == [MARCH_INDEX, APRIL_INDEX]
    assert cluster.count() == 2


def test_an_outage_leaves_executions_unsynced_and_the_next_catch_up_indexes_them(
    cluster, billing_template
):
    fake = cluster.needs_fake()
    executions = [finished(billing_template), finished(billing_template)]
    fake.failing = 503

    sync_report_data_to_elasticsearch(executions[0].pk)
    assert executions_sync() == 0
    assert synced_ids() == set()

    fake.failing = None
    sync_report_data_to_elasticsearch()  # the periodic catch-up
    assert synced_ids() == {execution.pk for execution in executions}
    assert cluster.count() == 2


def test_an_unreachable_cluster_is_logged_and_nothing_is_marked(
    settings, cluster, billing_template, caplog
):
    execution = finished(billing_template)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    settings.ELASTICSEARCH_URL = f"http://127.0.0.1:{closed_port}"

    sync_report_data_to_elasticsearch(execution.pk)

    assert synced_ids() == set()
    assert "Elasticsearch sync of 1 executions failed" in caplog.text


def test_only_the_documents_elasticsearch_accepted_are_marked_synced(cluster, billing_template):
    fake = cluster.needs_fake()
    accepted, refused = finished(billing_template), finished(billing_template)
    fake.refuse_ids = {str(refused.pk)}

    assert executions_sync() == 1
    assert synced_ids() == {accepted.pk}

    fake.refuse_ids = set()
    assert executions_sync() == 1
    assert synced_ids() == {accepted.pk, refused.pk}


def test_only_finished_executions_are_synced(cluster, billing_template):
    done = {
        finished(billing_template, status=status).pk
        for status in ("succeeded", "failed", "cancelled")
    }
    queued = finished(billing_template, status="queued")
    running = finished(billing_template, status="running")
    ReportExecution.objects.filter(pk__in=[queued.pk, running.pk]).update(finished_at=None)

    assert executions_sync(execution_ids=[queued.pk, running.pk]) == 0
    assert executions_sync() == 3
    assert synced_ids() == done
    assert cluster.count() == 3


@pytest.mark.usefixtures("report_output_dir")
@pytest.mark.django_db(databases=["default", "reporting"], transaction=True)
def test_a_finished_run_queues_its_own_sync_after_commit(
    cluster, billing_template, viewer, monkeypatch
):
    # The broker is the edge here: the queued task runs in this process instead.
    monkeypatch.setattr(
        sync_report_data_to_elasticsearch, "delay", sync_report_data_to_elasticsearch
    )
    execution = execution_request(template=billing_template, parameters={"month": "03",
                                  "year": 2025}, requested_by=viewer, trigger="api",
                                  enqueue=False)  # fmt: skip

    execution_run(execution_id=execution.pk)

    execution.refresh_from_db()
    assert execution.search_synced_at is not None
    index = f"reporting-executions-{execution.finished_at:%Y.%m}"
    document = cluster.document(index, execution)["_source"]
    assert document["status"] == "succeeded"
    assert document["row_count"] == 3
    assert document["outputs"][0]["format"] == "csv"


@pytest.mark.usefixtures("report_output_dir")
@pytest.mark.django_db(databases=["default", "reporting"], transaction=True)
def test_a_broker_that_is_down_does_not_fail_the_run(
    cluster, billing_template, viewer, monkeypatch
):
    def broker_down(execution_id):
        raise ConnectionRefusedError("the broker is down")

    monkeypatch.setattr(sync_report_data_to_elasticsearch, "delay", broker_down)
    execution = execution_request(template=billing_template, parameters={"month": "03",
                                  "year": 2025}, requested_by=viewer, trigger="api",
                                  enqueue=False)  # fmt: skip

    assert execution_run(execution_id=execution.pk).status == ExecutionStatus.SUCCEEDED
    assert synced_ids() == set()  # left for the catch-up
