"""Outputs and uploads on S3 (REPORT_STORAGE_URL, against moto's S3 server): rendered into the
bucket and not onto the local disk, downloaded streamed or by a presigned URL with the same
tenant checks and access log, cleaned up when they expire or an attempt is superseded."""

import base64
import csv
import hashlib
import io
import urllib.request
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from botocore.response import StreamingBody
from django.core.files.base import ContentFile
from django.utils import timezone
from pypdf import PdfReader
from rest_framework.test import APIClient

from accounts.models import Role
from accounts.tests.factories import MembershipFactory
from config.tests.services import free_port
from reporting.links import output_link
from reporting.models import (
    AccessAction,
    DataSource,
    ExecutionStatus,
    ReportAccessLog,
    ReportExecution,
    ReportOutput,
    report_storage,
)
from reporting.services.executions import execution_request, execution_run
from reporting.services.leases import lease_claim
from reporting.storage import file_stream
from reporting.tasks import clean_old_report_outputs
from reporting.tests.factories import ReportTemplateFactory, file_source_upload
from reporting.tests.test_end_to_end import wait_until_finished

BI = "/api/v1/business-intelligence"
OUTPUTS = f"{BI}/report-outputs"
MARCH = {"month": "03", "year": 2025}

runs_reports = pytest.mark.django_db(databases=["default", "reporting"], transaction=True)
pytestmark = [runs_reports, pytest.mark.usefixtures("object_storage")]


def queued(template, user, parameters=MARCH) -> ReportExecution:
    """An execution to run in this process (as `run_report` does), not sent to a worker."""
    return execution_request(
        template=template, parameters=parameters, requested_by=user, trigger="api", enqueue=False
    )


def run(template, user, parameters=MARCH) -> ReportExecution:
    execution = queued(template, user, parameters)
    execution_run(execution_id=execution.pk)
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.SUCCEEDED, execution.error
    return execution


@pytest.fixture
def csv_output(billing_template, viewer) -> ReportOutput:
    return run(billing_template, viewer, parameters={**MARCH, "rows": 5}).outputs.get()


def downloads_logged(output: ReportOutput) -> list:
    return list(
        ReportAccessLog.objects.filter(output=output, action=AccessAction.DOWNLOAD).values_list(
            "user__username", flat=True
        )
    )


def fetch(url: str) -> tuple[bytes, dict[str, str]]:
    with urllib.request.urlopen(url, timeout=10) as answer:  # no credentials: the URL is the key
        return answer.read(), {name.lower(): value for name, value in answer.headers.items()}


# --- rendering ---------------------------------------------------------------------------------


def test_csv_and_pdf_are_rendered_into_the_bucket_under_the_prefix_and_not_onto_disk(
    object_storage, settings, billing_template, viewer
):
    billing_template.output_formats = ["csv", "pdf"]
    billing_template.save()

    execution = run(billing_template, viewer, parameters={**MARCH, "rows": 4})

    outputs = {output.format: output for output in execution.outputs.all()}
    [token] = {Path(output.file.name).parent.name for output in outputs.values()}
    folder = f"site-a/reports/acme/{execution.pk}/{token}"
    assert object_storage.keys() == sorted(
        f"{folder}/monthly-billing-summary_2025-03_{execution.pk}.{extension}"
        for extension in ("csv", "pdf")
    )
    stored_csv = object_storage.read(f"site-a/reports/{outputs['csv'].file.name}")
    rows = list(csv.reader(io.StringIO(stored_csv.decode())))
    assert rows[1:] == [[str(i), f"Customer {i}", str(i * 10), "2025", "03"] for i in range(1, 5)]
    stored_pdf = object_storage.read(f"site-a/reports/{outputs['pdf'].file.name}")
    assert "Customer 4" in PdfReader(io.BytesIO(stored_pdf)).pages[0].extract_text()
    for output, stored in ((outputs["csv"], stored_csv), (outputs["pdf"], stored_pdf)):
        assert (output.size, output.sha256) == (len(stored), hashlib.sha256(stored).hexdigest())
    head = object_storage.client.head_object(
        Bucket=object_storage.bucket, Key=f"site-a/reports/{outputs['pdf'].file.name}"
    )
    assert head["ContentType"] == "application/pdf"
    assert not list(Path(settings.REPORT_OUTPUT_DIR).rglob(f"*_{execution.pk}.*"))


def test_an_organisation_logo_is_an_upload_in_the_bucket_and_brands_the_report(
    object_storage, organization, billing_template, viewer
):
    organization.logo.save("acme.svg", ContentFile(LOGO_SVG), save=True)
    billing_template.output_formats = ["html"]  # the logo inline, as in the PDF
    billing_template.save()

    execution = run(billing_template, viewer)

    assert object_storage.keys()[-1] == f"site-a/uploads/{organization.logo.name}"
    html = object_storage.read(f"site-a/reports/{execution.outputs.get().file.name}").decode()
    assert f"data:image/svg+xml;base64,{base64.b64encode(LOGO_SVG).decode()}" in html


LOGO_SVG = (
    b'<svg xmlns="http://www.w3.org/2000/svg" width="40" height="20">'
    b'<rect width="40" height="20" fill="#c0392b"/></svg>'
)


def test_a_failed_format_leaves_no_object_of_the_attempt_behind(
    object_storage, billing_template, viewer, monkeypatch
):
    from reporting.renderers import pdf as pdf_renderer

    def broken(*args, **kwargs):
        raise RuntimeError("out of ink")

    monkeypatch.setattr(pdf_renderer.PdfRenderer, "render", broken)
    billing_template.output_formats = ["csv", "pdf"]  # the CSV is stored before the PDF fails
    billing_template.save()
    execution = queued(billing_template, viewer)

    execution_run(execution_id=execution.pk)

    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.FAILED
    assert "out of ink" in execution.error
    assert object_storage.keys() == []


def test_a_new_attempt_deletes_what_the_superseded_attempt_left(
    object_storage, billing_template, viewer
):
    execution = queued(billing_template, viewer)
    first = lease_claim(execution_id=execution.pk)
    left = f"acme/{execution.pk}/{first.token.hex}/half-written.csv"
    report_storage().save(left, ContentFile(b"invoice\n1\n"))  # then its worker died
    ReportExecution.objects.filter(pk=execution.pk).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert object_storage.keys() == [f"site-a/reports/{left}"]

    execution_run(execution_id=execution.pk)

    execution.refresh_from_db()
    assert (execution.status, execution.attempts) == (ExecutionStatus.SUCCEEDED, 2)
    assert object_storage.keys() == [f"site-a/reports/{execution.outputs.get().file.name}"]
    assert first.token.hex not in execution.outputs.get().file.name


def test_expired_outputs_clean_up_deletes_their_objects(object_storage, viewer_client, csv_output):
    kept = ReportOutput.objects.get(pk=csv_output.pk)
    ReportOutput.objects.filter(pk=csv_output.pk).update(
        expires_at=timezone.now() - timedelta(minutes=1)
    )
    assert object_storage.keys() == [f"site-a/reports/{kept.file.name}"]

    assert clean_old_report_outputs() == 1

    assert object_storage.keys() == []
    assert ReportOutput.objects.get(pk=csv_output.pk).expired_at is not None
    assert viewer_client.get(f"{OUTPUTS}/{csv_output.pk}/download").status_code == 410


# --- downloads ---------------------------------------------------------------------------------


def test_the_api_download_streams_the_objects_exact_bytes(
    object_storage, viewer_client, csv_output
):
    response = viewer_client.get(f"{OUTPUTS}/{csv_output.pk}/download")

    assert response.status_code == 200
    assert response.streaming
    body = b"".join(response.streaming_content)
    assert body == object_storage.read(f"site-a/reports/{csv_output.file.name}")
    assert hashlib.sha256(body).hexdigest() == csv_output.sha256
    assert response["Content-Length"] == str(csv_output.size)
    assert response["Content-Disposition"] == f'attachment; filename="{csv_output.filename}"'
    assert response["Content-Type"] == csv_output.content_type
    assert downloads_logged(csv_output) == ["viewer-user"]


def test_with_presigned_downloads_the_api_redirects_to_a_short_lived_url_of_the_object(
    object_storage, settings, viewer_client, csv_output
):
    settings.REPORT_PRESIGNED_DOWNLOADS = True
    settings.REPORT_PRESIGNED_SECONDS = 120

    response = viewer_client.get(f"{OUTPUTS}/{csv_output.pk}/download")

    assert response.status_code == 302
    assert response["Cache-Control"] == "no-store"
    location = urlsplit(response["Location"])
    assert f"{location.scheme}://{location.netloc}" == object_storage.endpoint_url
    assert location.path == f"/{object_storage.bucket}/site-a/reports/{csv_output.file.name}"
    signed = parse_qs(location.query)
    assert signed["X-Amz-Expires"] == ["120"]
    assert signed["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert signed["X-Amz-Signature"]
    body, headers = fetch(response["Location"])
    assert hashlib.sha256(body).hexdigest() == csv_output.sha256
    assert headers["content-disposition"] == f'attachment; filename="{csv_output.filename}"'
    assert headers["content-type"] == csv_output.content_type
    assert downloads_logged(csv_output) == ["viewer-user"]


def test_a_download_reads_the_object_from_the_socket_chunk_by_chunk(csv_output):
    stream, size = file_stream(report_storage(), csv_output.file.name)

    assert isinstance(stream, StreamingBody)  # not S3Storage.open(), which downloads it whole
    assert size == csv_output.size
    assert stream.read(7) == b"invoice"
    stream.close()


@pytest.mark.parametrize("presigned", [False, True])
def test_another_organisations_output_is_a_404_and_logs_nothing_in_either_mode(
    settings, other_organization, csv_output, presigned
):
    settings.REPORT_PRESIGNED_DOWNLOADS = presigned
    stranger = MembershipFactory(
        organization=other_organization, role=Role.ADMIN, user__username="northwind-admin"
    ).user
    client = APIClient()
    client.force_authenticate(stranger)

    response = client.get(f"{OUTPUTS}/{csv_output.pk}/download")

    assert response.status_code == 404
    assert "Location" not in response
    assert downloads_logged(csv_output) == []


@pytest.mark.parametrize("presigned", [False, True])
def test_a_signed_link_serves_the_object_and_is_logged_in_either_mode(
    object_storage, settings, client, csv_output, presigned
):
    settings.REPORT_PRESIGNED_DOWNLOADS = presigned

    response = client.get(urlsplit(output_link(csv_output)).path)

    if presigned:
        assert response.status_code == 302
        body, _ = fetch(response["Location"])
    else:
        assert response.status_code == 200
        body = b"".join(response.streaming_content)
    assert hashlib.sha256(body).hexdigest() == csv_output.sha256
    assert downloads_logged(csv_output) == [None]  # a link needs no login


def test_an_object_gone_from_the_bucket_is_a_404_not_a_server_error(
    object_storage, viewer_client, csv_output
):
    object_storage.client.delete_object(
        Bucket=object_storage.bucket, Key=f"site-a/reports/{csv_output.file.name}"
    )

    assert viewer_client.get(f"{OUTPUTS}/{csv_output.pk}/download").status_code == 404


# --- uploads -----------------------------------------------------------------------------------


def test_a_file_source_upload_is_stored_in_the_bucket_and_read_by_a_report_run(
    object_storage, settings, admin_client_api, organization, admin_user
):
    created = file_source_upload(admin_client_api, "members.csv", b"name,visits\nAda,3\nAlan,5\n")
    assert created.status_code == 201, created.json()
    stored_name = created.json()["config"]["upload"]
    assert object_storage.keys() == [f"site-a/uploads/{stored_name}"]
    assert not (Path(settings.MEDIA_ROOT) / stored_name).exists()
    template = ReportTemplateFactory(
        organization=organization,
        slug="members",
        parameters_schema={"type": "object", "properties": {}},
        sources=[DataSource.objects.get(pk=created.json()["id"])],
    )

    execution = run(template, admin_user, parameters={})

    stored = object_storage.read(f"site-a/reports/{execution.outputs.get().file.name}")
    assert list(csv.reader(io.StringIO(stored.decode()))) == [
        ["name", "visits"],
        ["Ada", "3"],
        ["Alan", "5"],
    ]


def test_a_run_whose_upload_is_gone_from_the_bucket_fails_naming_the_file(
    object_storage, admin_client_api, organization, admin_user
):
    created = file_source_upload(admin_client_api, "members.csv", b"name,visits\nAda,3\n").json()
    object_storage.client.delete_object(
        Bucket=object_storage.bucket, Key=f"site-a/uploads/{created['config']['upload']}"
    )
    template = ReportTemplateFactory(
        organization=organization,
        parameters_schema={"type": "object", "properties": {}},
        sources=[DataSource.objects.get(pk=created["id"])],
    )
    execution = queued(template, admin_user, parameters={})

    execution_run(execution_id=execution.pk)

    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.FAILED
    assert f"The file '{created['config']['upload']}' does not exist." in execution.error


# --- the object storage unreachable --------------------------------------------------------------


def storage_unreachable(settings) -> None:
    """REPORT_STORAGE_URL's endpoint stops answering: nothing listens on its port any more."""
    dead = f"http://127.0.0.1:{free_port()}"
    settings.STORAGES = {
        alias: {**config, "OPTIONS": {**config.get("OPTIONS", {}), "endpoint_url": dead}}
        if alias in ("default", "reports")
        else config
        for alias, config in settings.STORAGES.items()
    }


def test_a_download_while_the_object_storage_is_unreachable_is_a_503_naming_it(
    settings, viewer, csv_output
):
    storage_unreachable(settings)
    client = APIClient(raise_request_exception=False)
    client.force_authenticate(viewer)

    response = client.get(f"{OUTPUTS}/{csv_output.pk}/download")

    assert response.status_code == 503
    assert response.json()["service"] == "storage"
    assert response.json()["detail"].startswith("The object storage is unavailable.")


def test_healthz_names_the_object_storage_when_it_is_unreachable(settings, client):
    assert client.get("/healthz").json()["services"]["storage"] == {"status": "ok"}

    storage_unreachable(settings)
    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json()["failing"] == ["storage"]


def test_a_render_while_the_object_storage_is_unreachable_fails_saying_so(
    settings, billing_template, viewer
):
    storage_unreachable(settings)
    execution = queued(billing_template, viewer)

    execution_run(execution_id=execution.pk)

    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.FAILED
    assert execution.error.startswith(
        f"Storing the output monthly-billing-summary_2025-03_{execution.pk}.csv failed:"
    )


# --- two processes -------------------------------------------------------------------------------


def test_a_pdf_a_worker_process_rendered_is_served_by_the_web_process(
    object_storage, live_worker, report_output_dir, viewer_client, billing_template
):
    billing_template.output_formats = ["pdf"]
    billing_template.save()
    # The worker's environment has REPORT_STORAGE_URL and the keys; its local folder stays empty.
    response = viewer_client.post(
        f"{BI}/report-executions",
        {"template_id": billing_template.pk, "parameters": MARCH},
        format="json",
    )
    assert response.status_code == 202, response.json()

    finished = wait_until_finished(viewer_client, response["Location"])

    assert finished["status"] == "succeeded", finished["error"]
    [output] = finished["outputs"]
    key = f"site-a/reports/{ReportOutput.objects.get(pk=output['id']).file.name}"
    assert object_storage.keys() == [key]
    pdf = b"".join(viewer_client.get(output["download_url"]).streaming_content)
    assert pdf == object_storage.read(key)
    assert "Customer 3" in PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
    assert not [path for path in report_output_dir.rglob("*") if path.is_file()]
