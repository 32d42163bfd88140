import csv
import io
import json
import os

import pytest
from django.utils import timezone

from reporting.models import (
    AccessAction,
    ConnectionGrant,
    ExecutionStatus,
    ReportAccessLog,
    ReportExecution,
    ReportOutput,
    report_storage,
)
from reporting.services.executions import (
    execution_request,
    execution_run,
)
from reporting.services.leases import Heartbeat, lease_claim
from reporting.tasks import clean_old_report_outputs, process_report_execution
from reporting.tests.factories import DataSourceFactory, ReportTemplateFactory

EXECUTIONS = "/api/v1/business-intelligence/report-executions"
OUTPUTS = "/api/v1/business-intelligence/report-outputs"
MARCH = {"month": "03", "year": 2025}

pytestmark = pytest.mark.usefixtures("report_output_dir")

# Report SQL reads committed rows through the `reporting` alias's own connection, as in
# production, so tests that run reports commit their data.
runs_reports = pytest.mark.django_db(databases=["default", "reporting"], transaction=True)


def request_run(template, user, **options):
    """An execution to run in this process (as `run_report` does), not sent to a worker."""
    return execution_request(
        template=template,
        parameters=options.pop("parameters", MARCH),
        requested_by=user,
        trigger="api",
        enqueue=False,
        **options,
    )


def test_post_answers_202_with_the_execution_and_its_location(
    viewer_client, billing_template, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as enqueued:
        response = viewer_client.post(
            EXECUTIONS, {"template_id": billing_template.pk, "parameters": MARCH}, format="json"
        )
    assert response.status_code == 202, response.json()
    body = response.json()
    assert body["status"] == "queued"
    assert body["parameters"] == {**MARCH, "rows": 3}  # the schema's default filled in
    assert body["output_formats"] == ["csv"]
    assert response["Location"].endswith(f"{EXECUTIONS}/{body['id']}")
    assert len(enqueued) == 1  # queued for the worker only once the row is committed


def test_bad_parameters_are_a_400_per_field_and_store_nothing(viewer_client, billing_template):
    response = viewer_client.post(
        EXECUTIONS,
        {"template_id": billing_template.pk, "parameters": {"month": "13", "year": 1999}},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["parameters"] == {
        "month": ["'13' is not a 'month'"],
        "year": ["1999 is less than the minimum of 2000"],
    }
    assert not ReportExecution.objects.exists()


@runs_reports
def test_a_run_produces_every_format_from_one_snapshot(billing_template, viewer):
    billing_template.output_formats = ["csv", "json", "xlsx", "html", "pdf"]
    billing_template.save()
    execution = request_run(billing_template, viewer, parameters={**MARCH, "rows": 4})
    process_report_execution(execution.pk)
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.SUCCEEDED, execution.error
    assert (execution.row_count, execution.progress, execution.attempts) == (4, 100, 1)
    outputs = {o.format: o for o in execution.outputs.all()}
    assert set(outputs) == {"csv", "json", "xlsx", "html", "pdf"}
    with report_storage().open(outputs["csv"].file.name) as file:
        rows = list(csv.reader(io.TextIOWrapper(file, encoding="utf-8")))
    assert rows[0] == ["invoice", "customer", "amount_cents", "year", "month"]
    assert rows[1:] == [[str(i), f"Customer {i}", str(i * 10), "2025", "03"] for i in range(1, 5)]
    with report_storage().open(outputs["json"].file.name) as file:
        document = json.load(file)
    assert document["tables"]["invoices"]["rows"][3][:3] == [4, "Customer 4", 40]
    assert outputs["csv"].filename == f"monthly-billing-summary_2025-03_{execution.pk}.csv"
    assert outputs["pdf"].content_type == "application/pdf"
    assert all(o.size > 0 and len(o.sha256) == 64 for o in outputs.values())


@runs_reports
def test_the_claim_runs_an_execution_once_however_often_it_is_delivered(billing_template, viewer):
    execution = request_run(billing_template, viewer)
    lease = lease_claim(execution_id=execution.pk)
    assert lease is not None
    with Heartbeat(lease):  # its run is alive
        assert lease_claim(execution_id=execution.pk) is None  # a second worker gets nothing
    ReportExecution.objects.filter(pk=execution.pk).update(status=ExecutionStatus.QUEUED)
    execution_run(execution_id=execution.pk)
    execution_run(execution_id=execution.pk)  # a redelivered message
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.SUCCEEDED
    assert execution.outputs.count() == 1


@runs_reports
def test_a_failing_query_fails_the_execution_with_a_readable_error_and_no_files(
    organization, viewer, report_output_dir
):
    broken = DataSourceFactory(
        organization=organization, query="SELECT no_such_column FROM nowhere"
    )
    template = ReportTemplateFactory(
        organization=organization, sources=[broken], parameters_schema={"type": "object"}
    )
    execution = request_run(template, viewer, parameters={})
    execution_run(execution_id=execution.pk)
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.FAILED
    assert execution.error.startswith(f"Data source “{broken.name}”:")
    assert "nowhere" in execution.error
    assert "Traceback" not in execution.error
    assert not ReportOutput.objects.exists()
    assert not [p for p in report_output_dir.rglob("*") if p.is_file()]


def test_a_cancelled_execution_never_runs(billing_template, viewer_client, viewer):
    execution = request_run(billing_template, viewer)
    response = viewer_client.post(f"{EXECUTIONS}/{execution.pk}/cancel")
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    execution_run(execution_id=execution.pk)
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.CANCELLED
    assert not execution.outputs.exists()
    assert viewer_client.post(f"{EXECUTIONS}/{execution.pk}/cancel").status_code == 409


def test_retry_makes_a_new_execution_and_keeps_the_failed_one(
    billing_template, viewer_client, viewer
):
    failed = request_run(billing_template, viewer)
    ReportExecution.objects.filter(pk=failed.pk).update(status="failed", error="SMTP down")
    response = viewer_client.post(f"{EXECUTIONS}/{failed.pk}/retry")
    assert response.status_code == 202
    retry = ReportExecution.objects.get(pk=response.json()["id"])
    assert (retry.trigger, retry.retry_of_id, retry.parameters) == (
        "retry",
        failed.pk,
        failed.parameters,
    )
    failed.refresh_from_db()
    assert (failed.status, failed.error) == ("failed", "SMTP down")
    assert viewer_client.post(f"{EXECUTIONS}/{retry.pk}/retry").status_code == 409


@runs_reports
def test_download_streams_the_file_with_its_name_and_is_logged(
    billing_template, viewer_client, viewer
):
    execution = request_run(billing_template, viewer)
    execution_run(execution_id=execution.pk)
    detail = viewer_client.get(f"{EXECUTIONS}/{execution.pk}").json()
    assert detail["status"] == "succeeded"
    [output] = detail["outputs"]
    response = viewer_client.get(output["download_url"])
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert (
        f'filename="monthly-billing-summary_2025-03_{execution.pk}.csv"'
        in response["Content-Disposition"]
    )
    assert b"".join(response.streaming_content).startswith(b"invoice,customer,amount_cents")
    actions = list(ReportAccessLog.objects.values_list("action", flat=True))
    assert AccessAction.DOWNLOAD in actions
    assert AccessAction.RUN in actions


@runs_reports
def test_expired_outputs_lose_their_files_but_keep_the_history(
    billing_template, viewer, viewer_client
):
    execution = request_run(billing_template, viewer)
    execution_run(execution_id=execution.pk)
    output = execution.outputs.get()
    path = report_storage().path(output.file.name)
    ReportOutput.objects.filter(pk=output.pk).update(expires_at=timezone.now())
    assert clean_old_report_outputs() == 1
    assert clean_old_report_outputs() == 0
    output.refresh_from_db()
    assert output.expired_at is not None
    assert not os.path.exists(path)
    assert ReportExecution.objects.filter(pk=execution.pk, status="succeeded").exists()
    assert viewer_client.get(f"{OUTPUTS}/{output.pk}/download").status_code == 410


def test_viewers_see_their_own_executions_analysts_see_all(
    billing_template, viewer, analyst, viewer_client, analyst_client
):
    mine, theirs = request_run(billing_template, viewer), request_run(billing_template, analyst)

    def ids(client):
        return {e["id"] for e in client.get(EXECUTIONS).json()["results"]}

    assert ids(viewer_client) == {mine.pk}
    assert ids(analyst_client) == {mine.pk, theirs.pk}
    assert viewer_client.get(f"{EXECUTIONS}/{theirs.pk}").status_code == 404


@runs_reports
def test_executions_filter_by_status_and_template(billing_template, analyst, analyst_client):
    done, queued = request_run(billing_template, analyst), request_run(billing_template, analyst)
    execution_run(execution_id=done.pk)
    results = analyst_client.get(EXECUTIONS, {"status": "queued"}).json()["results"]
    assert [e["id"] for e in results] == [queued.pk]
    results = analyst_client.get(EXECUTIONS, {"template": billing_template.pk}).json()["results"]
    assert len(results) == 2


@runs_reports
def test_a_query_that_tries_to_write_fails_and_changes_nothing(organization, viewer):
    from django.db import connection

    from accounts.models import Organization

    # On PostgreSQL it starts like a read, so only the database can stop it (the read-only
    # transaction and the role's privileges); SQLite has no writing SELECT, so a plain DELETE.
    query = (
        "WITH gone AS (DELETE FROM public.accounts_organization RETURNING id) SELECT id FROM gone"
        if connection.vendor == "postgresql"
        else "DELETE FROM accounts_organization"
    )
    writer = DataSourceFactory(organization=organization, query=query)
    template = ReportTemplateFactory(
        organization=organization, sources=[writer], parameters_schema={"type": "object"}
    )
    execution = request_run(template, viewer, parameters={})
    execution_run(execution_id=execution.pk)
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.FAILED
    assert execution.error.startswith(f"Data source “{writer.name}”:")
    assert any(word in execution.error for word in ("write", "read-only", "refused"))
    assert Organization.objects.filter(pk=organization.pk).exists()


@runs_reports
def test_the_demo_reports_of_make_run_succeed(organization, viewer):
    from reporting.services.samples import sample_reports_load

    for template in sample_reports_load(organization=organization):
        execution = request_run(template, viewer, parameters={"month": "02", "year": 2026})
        execution_run(execution_id=execution.pk)
        execution.refresh_from_db()
        assert execution.status == ExecutionStatus.SUCCEEDED, execution.error
        assert execution.outputs.count() == len(template.output_formats)
    assert sample_reports_load(organization=organization) == []  # nothing twice


@runs_reports
def test_a_redis_source_report_runs_end_to_end(organization, viewer, reporting_redis_url, settings):
    import redis as redis_client

    settings.REPORTING_REDIS = {"default": reporting_redis_url}
    ConnectionGrant.objects.create(organization=organization, kind="redis", name="default")
    server = redis_client.Redis.from_url(reporting_redis_url)
    prefix = f"test-e2e-{organization.pk.hex[:8]}"
    for n in range(3):
        server.hset(f"{prefix}:member:{n}", mapping={"name": f"Member {n}", "visits": n * 2})
    try:
        source = DataSourceFactory(organization=organization, source_type="redis", query="",
                                   config={"pattern": f"{prefix}:member:*", "shape": "hash",
                                           "fields": ["name", "visits"]})  # fmt: skip
        template = ReportTemplateFactory(organization=organization, sources=[source],
                                         parameters_schema={"type": "object"})  # fmt: skip
        execution = request_run(template, viewer, parameters={})
        execution_run(execution_id=execution.pk)
        execution.refresh_from_db()
        assert execution.status == ExecutionStatus.SUCCEEDED, execution.error
        with report_storage().open(execution.outputs.get().file.name) as file:
            header, *rows = file.read().decode().splitlines()
        assert header == "key,name,visits"
        assert sorted(rows) == [f"{prefix}:member:{n},Member {n},{n * 2}" for n in range(3)]
    finally:
        server.delete(*server.keys(f"{prefix}:*"))
