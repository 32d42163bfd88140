"""Who may do what on every business-intelligence endpoint, and isolation between tenants."""

import pytest
from rest_framework.test import APIClient

from accounts.models import Role
from accounts.tests.factories import MembershipFactory
from reporting.models import ReportAccessLog, ReportOutput
from reporting.services.executions import execution_request
from reporting.tests.factories import (
    BILLING_SCHEMA,
    DataSourceFactory,
    ReportTemplateFactory,
    file_source_upload,
)

BI = "/api/v1/business-intelligence"
MARCH = {"month": "03", "year": 2025}


@pytest.fixture
def objects(organization, billing_template, invoices, viewer):
    members = DataSourceFactory(
        organization=organization,
        name="Members",
        source_type="dataset",
        query="",
        config={"dataset": "organization_members"},
    )
    execution = execution_request(
        template=billing_template,
        parameters=MARCH,
        requested_by=viewer,
        trigger="api",
        enqueue=False,
    )
    output = ReportOutput.objects.create(
        execution=execution,
        format="csv",
        file="acme/x.csv",
        filename="x.csv",
        sha256="0" * 64,
        content_type="text/csv",
        expires_at="2099-01-01T00:00:00Z",
    )
    return {
        "template": billing_template,
        "source": invoices,
        "execution": execution,
        "output": output,
        "members": members,
    }


def client_as(organization, role: Role | None) -> APIClient:
    client = APIClient()
    if role is not None:
        client.force_authenticate(MembershipFactory(organization=organization, role=role).user)
    return client


def new_template_body(source_id):
    return {
        "name": "New",
        "output_formats": ["csv"],
        "data_source_ids": [source_id],
        "parameters_schema": BILLING_SCHEMA,
    }


# (method, path, body, the least role allowed, the status it then gets)
ENDPOINTS = [
    ("get", "/data-sources", None, Role.ANALYST, 200),
    (
        "post",
        "/data-sources",
        lambda o: {"name": "New", "source_type": "database", "query": "SELECT 1 AS one"},
        Role.ADMIN,
        201,
    ),
    ("get", "/data-sources/{source}", None, Role.ANALYST, 200),
    ("post", "/data-sources/{members}/test", None, Role.ADMIN, 200),
    ("post", "/data-sources/{members}/preview", None, Role.ADMIN, 200),
    ("get", "/report-templates", None, Role.VIEWER, 200),
    ("get", "/report-templates/{template}", None, Role.VIEWER, 200),
    ("post", "/report-templates", lambda o: new_template_body(o["source"].pk), Role.ANALYST, 201),
    ("patch", "/report-templates/{template}", lambda o: {"description": "x"}, Role.ANALYST, 200),
    ("get", "/report-executions", None, Role.VIEWER, 200),
    (
        "post",
        "/report-executions",
        lambda o: {"template_id": o["template"].pk, "parameters": MARCH},
        Role.VIEWER,
        202,
    ),
    ("get", "/report-outputs", None, Role.VIEWER, 200),
    ("get", "/audit-log", None, Role.ADMIN, 200),
]


def call(client, method, path, body, objects):
    url = BI + path.format(**{k: v.pk for k, v in objects.items()})
    return getattr(client, method)(url, body(objects) if body else None, format="json")


@pytest.mark.parametrize(("method", "path", "body", "least", "allowed_status"), ENDPOINTS)
@pytest.mark.parametrize("role", [None, *Role])
def test_role_matrix(organization, objects, method, path, body, least, allowed_status, role):
    response = call(client_as(organization, role), method, path, body, objects)
    if role is None:
        assert response.status_code == 401
    elif role.includes(least):
        assert response.status_code == allowed_status, response.content
    else:
        assert response.status_code == 403


FOREIGN = [
    ("get", "/data-sources/{source}"),
    ("patch", "/data-sources/{source}"),
    ("delete", "/data-sources/{source}"),
    ("post", "/data-sources/{source}/test"),
    ("post", "/data-sources/{source}/preview"),
    ("get", "/report-templates/{template}"),
    ("patch", "/report-templates/{template}"),
    ("delete", "/report-templates/{template}"),
    ("get", "/report-executions/{execution}"),
    ("post", "/report-executions/{execution}/cancel"),
    ("post", "/report-executions/{execution}/retry"),
    ("get", "/report-outputs/{output}"),
    ("get", "/report-outputs/{output}/download"),
]


@pytest.mark.parametrize(("method", "path"), FOREIGN)
def test_another_organisations_objects_are_404(organization, other_organization, method, path):
    source = DataSourceFactory(organization=other_organization)
    template = ReportTemplateFactory(organization=other_organization, sources=[source])
    execution = execution_request(
        template=template, parameters=MARCH, requested_by=None, trigger="api", enqueue=False
    )
    output = ReportOutput.objects.create(
        execution=execution,
        format="csv",
        file="x.csv",
        filename="x.csv",
        sha256="0" * 64,
        content_type="text/csv",
        expires_at="2099-01-01T00:00:00Z",
    )
    theirs = {"source": source, "template": template, "execution": execution, "output": output}
    response = call(client_as(organization, Role.ADMIN), method, path, None, theirs)
    assert response.status_code == 404


# SQL sources read through the `reporting` alias's own connection: commit the test's rows.
@pytest.mark.django_db(databases=["default", "reporting"], transaction=True)
def test_data_source_test_and_preview(admin_client_api, invoices):
    test = admin_client_api.post(f"{BI}/data-sources/{invoices.pk}/test").json()
    assert test["ok"] is True
    assert "5 columns" in test["message"]
    preview = admin_client_api.post(
        f"{BI}/data-sources/{invoices.pk}/preview",
        {"parameters": {**MARCH, "rows": 60}},
        format="json",
    ).json()
    assert [c["name"] for c in preview["columns"]][:2] == ["invoice", "customer"]
    assert len(preview["rows"]) == 50
    assert preview["rows"][0][:2] == [1, "Customer 1"]


def test_preview_of_a_dataset_with_its_own_parameters(admin_client_api, objects, viewer):
    url = f"{BI}/data-sources/{objects['members'].pk}/preview"
    everyone = admin_client_api.post(url, {}, format="json").json()
    assert viewer.username in [row[0] for row in everyone["rows"]]
    admins = admin_client_api.post(url, {"parameters": {"role": "admin"}}, format="json").json()
    assert viewer.username not in [row[0] for row in admins["rows"]]
    assert admins["rows"]


@pytest.mark.django_db(databases=["default", "reporting"], transaction=True)
def test_a_broken_data_source_test_says_why(admin_client_api, organization):
    broken = DataSourceFactory(organization=organization, query="SELECT * FROM no_such_table")
    response = admin_client_api.post(f"{BI}/data-sources/{broken.pk}/test")
    assert response.status_code == 200
    assert response.json()["ok"] is False
    assert "no_such_table" in response.json()["message"]


def test_a_data_source_in_use_is_not_deleted(admin_client_api, billing_template, invoices):
    response = admin_client_api.delete(f"{BI}/data-sources/{invoices.pk}")
    assert response.status_code == 409
    assert billing_template.name in response.json()["detail"]


def test_the_audit_log_lists_the_organisations_actions(
    admin_client_api, objects, other_organization
):
    ReportAccessLog.objects.create(organization=other_organization, action="view")
    admin_client_api.get(f"{BI}/report-templates/{objects['template'].pk}")
    entries = admin_client_api.get(f"{BI}/audit-log").json()["results"]
    assert [e["action"] for e in entries] == ["view", "run"]
    assert admin_client_api.get(f"{BI}/audit-log", {"action": "run"}).json()["count"] == 1


def test_a_file_source_reads_its_own_upload_and_no_other(admin_client_api, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    created = file_source_upload(admin_client_api, "members.csv", b"name,visits\nAda,3\nAlan,5\n")
    assert created.status_code == 201, created.json()
    assert created.json()["config"]["upload"].startswith("data-sources/")
    source_id = created.json()["id"]
    preview = admin_client_api.post(f"{BI}/data-sources/{source_id}/preview", {}, format="json")
    assert preview.json()["rows"] == [["Ada", 3], ["Alan", 5]]

    other = {"name": "Theirs", "source_type": "file",
             "config": {"upload": "data-sources/2025/03/their-secret.csv"}}  # fmt: skip
    response = admin_client_api.post(f"{BI}/data-sources", other, format="json")
    assert response.status_code == 400
    assert "upload" in response.json()["config"][0]
