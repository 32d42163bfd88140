import pytest
from django.core.management import call_command
from django.test import Client

from accounts.models import Membership, Organization
from accounts.tests.factories import UserFactory
from reporting.models import ReportTemplate


@pytest.mark.django_db
def test_api_root_lists_the_endpoints_without_a_login(client):
    response = client.get("/api/v1/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    assert {"me", "organizations"} <= set(response.json())


def test_browsable_api_renders_html(viewer):
    client = Client()
    client.force_login(viewer)
    response = client.get("/api/v1/me/", HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    assert b"Reporting Hub" in response.content or b"Django REST framework" in response.content


@pytest.mark.django_db
def test_openapi_schema_documents_the_organisation_header(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    me = schema["paths"]["/api/v1/me/"]["get"]
    assert "X-Organization" in [p["name"] for p in me["parameters"]]
    assert "/api/v1/auth/token/" in schema["paths"]


@pytest.mark.django_db
def test_swagger_ui_is_served(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    assert b"swagger" in response.content.lower()


def test_admin_organisation_page_edits_memberships_inline(organization, viewer):
    client = Client()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    response = client.get(f"/admin/accounts/organization/{organization.pk}/change/")
    assert response.status_code == 200
    assert b'name="memberships-TOTAL_FORMS"' in response.content
    assert viewer.username.encode() in response.content


@pytest.mark.django_db
def test_setup_demo_creates_the_demo_once_and_always_prints_the_login(capsys):
    call_command("setup_demo")
    first = capsys.readouterr().out
    assert "login:   demo / demo" in first
    assert "/admin/" in first
    counts = (
        Organization.objects.count(),
        Membership.objects.count(),
        ReportTemplate.objects.count(),
    )
    assert Organization.objects.filter(slug="demo").exists()
    assert counts[1:] == (4, 2)  # the demo admin, one sample member per role; two demo reports

    call_command("setup_demo")
    assert "login:   demo / demo" in capsys.readouterr().out
    assert (
        Organization.objects.count(),
        Membership.objects.count(),
        ReportTemplate.objects.count(),
    ) == counts


@pytest.mark.django_db
def test_the_openapi_schema_is_valid_and_generates_without_warnings(tmp_path):
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "s.yml"))
    schema = (tmp_path / "s.yml").read_text()
    for path in ("/api/v1/business-intelligence/scheduled-reports/{id}/run-now",
                 "/api/v1/business-intelligence/deliveries/{id}/redeliver"):  # fmt: skip
        assert path in schema
