"""Analytics reports with outputs on S3 (REPORT_STORAGE_URL): rendered into the bucket and
downloaded streamed or by a presigned redirect, each download logged; another organisation's
report is a 404 either way."""

import io
import urllib.request
from zipfile import ZipFile

import pytest
from rest_framework.test import APIClient

from accounts.models import Role
from accounts.tests.factories import MembershipFactory
from reporting.models import AccessAction, ReportAccessLog, ReportOutput
from reporting.services.executions import execution_run

REPORTS = "/api/v1/analytics/reports"

pytestmark = [
    pytest.mark.django_db(databases=["default", "reporting"], transaction=True),
    pytest.mark.usefixtures("object_storage"),
]


@pytest.fixture
def finished(admin_client_api, django_capture_on_commit_callbacks) -> dict:
    with django_capture_on_commit_callbacks():  # not sent to a broker: run here below
        response = admin_client_api.post(
            f"{REPORTS}/request", {"report_type": "usage", "format": "csv"}, format="json"
        )
    assert response.status_code == 202, response.json()
    body = response.json()
    execution_run(execution_id=body["execution_id"])
    return body


@pytest.mark.parametrize("presigned", [False, True])
def test_an_analytics_report_is_an_object_in_the_bucket_downloaded_in_either_mode(
    settings, object_storage, admin_client_api, other_organization, finished, presigned
):
    settings.REPORT_PRESIGNED_DOWNLOADS = presigned
    output = ReportOutput.objects.get(execution_id=finished["execution_id"])
    stored = object_storage.read(f"site-a/reports/{output.file.name}")
    assert object_storage.keys() == [f"site-a/reports/{output.file.name}"]

    response = admin_client_api.get(finished["links"]["download"])

    if presigned:
        assert response.status_code == 302
        assert response["Location"].startswith(f"{object_storage.endpoint_url}/")
        with urllib.request.urlopen(response["Location"], timeout=10) as answer:
            body = answer.read()
    else:
        assert response.status_code == 200
        body = b"".join(response.streaming_content)
    assert body == stored
    assert all(name.endswith(".csv") for name in ZipFile(io.BytesIO(body)).namelist())
    logged = ReportAccessLog.objects.filter(output=output, action=AccessAction.DOWNLOAD)
    assert logged.count() == 1
    stranger = MembershipFactory(
        organization=other_organization, role=Role.ADMIN, user__username="their-admin"
    ).user
    elsewhere = APIClient()
    elsewhere.force_authenticate(stranger)
    assert elsewhere.get(finished["links"]["download"]).status_code == 404
    assert logged.count() == 1
