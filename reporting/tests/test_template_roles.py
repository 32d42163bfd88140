"""A template's run_role: the least role that may see and run it, its executions, outputs and
schedules, through every door (the API, schedules, retries, the admin). Below it, they answer
404 as another organisation's objects do."""

import json

import pytest
from django.http import Http404
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import Role
from accounts.tests.factories import MembershipFactory
from reporting.models import ReportExecution, ReportOutput, ReportTemplate
from reporting.services.executions import execution_request
from reporting.services.schedules import schedule_create, schedule_run_now
from reporting.tests.factories import BILLING_SCHEMA, DataSourceFactory, ReportTemplateFactory

TEMPLATES = "/api/v1/business-intelligence/report-templates"

BI = "/api/v1/business-intelligence"
MARCH = {"month": "03", "year": 2025}


def client_as(organization, role: Role) -> APIClient:
    client = APIClient()
    client.force_authenticate(MembershipFactory(organization=organization, role=role).user)
    return client


def template_ids(client: APIClient) -> set[int]:
    return {t["id"] for t in client.get(f"{BI}/report-templates").json()["results"]}


@pytest.fixture
def admins_only(organization, invoices, admin_user):
    """An admin-only template with an admin's execution, its output and a schedule."""
    template = ReportTemplateFactory(
        organization=organization, sources=[invoices], run_role=Role.ADMIN, slug="payroll"
    )
    execution = execution_request(
        template=template, parameters=MARCH, requested_by=admin_user, trigger="api", enqueue=False
    )
    output = ReportOutput.objects.create(
        execution=execution,
        format="csv",
        file="acme/payroll.csv",
        filename="payroll.csv",
        sha256="0" * 64,
        content_type="text/csv",
        expires_at="2099-01-01T00:00:00Z",
    )
    schedule = schedule_create(
        organization=organization,
        owner=admin_user,
        template=template,
        name="Payroll",
        cron="0 6 1 * *",
        parameters=MARCH,
        time_zone="Europe/Berlin",
    )
    return {"template": template, "execution": execution, "output": output, "schedule": schedule}


def test_templates_made_before_the_field_keep_todays_rule(organization, invoices):
    public = ReportTemplateFactory(organization=organization, sources=[invoices])
    private = ReportTemplateFactory(organization=organization, sources=[invoices], is_public=False)
    assert ReportTemplate._meta.get_field("run_role").default == Role.VIEWER
    seen = {role: template_ids(client_as(organization, role)) for role in Role}
    assert seen[Role.VIEWER] == {public.pk}
    for role in (Role.ANALYST, Role.ADMIN, Role.SUPER_ADMIN):
        assert seen[role] == {public.pk, private.pk}


ADMINS_ONLY_PATHS = [
    ("get", "/report-templates/{template}"),
    ("patch", "/report-templates/{template}"),
    ("delete", "/report-templates/{template}"),
    ("get", "/report-executions/{execution}"),
    ("post", "/report-executions/{execution}/cancel"),
    ("post", "/report-executions/{execution}/retry"),
    ("get", "/report-outputs/{output}"),
    ("get", "/report-outputs/{output}/download"),
    ("get", "/scheduled-reports/{schedule}"),
    ("get", "/scheduled-reports/{schedule}/executions"),
    ("post", "/scheduled-reports/{schedule}/run-now"),
]


@pytest.mark.parametrize(("method", "path"), ADMINS_ONLY_PATHS)
def test_an_analyst_gets_404_for_an_admin_only_template_and_its_objects(
    organization, admins_only, method, path
):
    url = BI + path.format(**{name: thing.pk for name, thing in admins_only.items()})
    response = getattr(client_as(organization, Role.ANALYST), method)(url, {}, format="json")
    assert response.status_code == 404, response.content
    assert ReportExecution.objects.count() == 1


def test_lists_leave_an_admin_only_template_and_its_objects_out_below_admin(
    organization, admins_only, billing_template
):
    for role, sees in [(Role.ANALYST, False), (Role.ADMIN, True), (Role.SUPER_ADMIN, True)]:
        client = client_as(organization, role)
        templates = template_ids(client)
        executions = client.get(f"{BI}/report-executions").json()["results"]
        outputs = client.get(f"{BI}/report-outputs").json()["results"]
        schedules = client.get(f"{BI}/scheduled-reports").json()["results"]
        assert (admins_only["template"].pk in templates) is sees, role
        assert billing_template.pk in templates
        assert [e["id"] for e in executions] == ([admins_only["execution"].pk] if sees else [])
        assert [o["id"] for o in outputs] == ([admins_only["output"].pk] if sees else [])
        assert [s["id"] for s in schedules] == ([admins_only["schedule"].pk] if sees else [])


def test_an_analyst_cannot_run_an_admin_only_template_through_the_api(organization, admins_only):
    body = {"template_id": admins_only["template"].pk, "parameters": MARCH}
    analyst = client_as(organization, Role.ANALYST)
    response = analyst.post(f"{BI}/report-executions", body, format="json")
    assert response.status_code == 400  # as for another organisation's template: no such id
    assert "template_id" in response.json()
    admin = client_as(organization, Role.ADMIN)
    assert admin.post(f"{BI}/report-executions", body, format="json").status_code == 202
    assert ReportExecution.objects.filter(requested_by__memberships__role=Role.ANALYST).count() == 0


def test_execution_request_refuses_a_user_below_the_run_role(organization, admins_only, analyst):
    with pytest.raises(Http404):
        execution_request(
            template=admins_only["template"], parameters=MARCH, requested_by=analyst,
            trigger="api", enqueue=False,
        )  # fmt: skip
    with pytest.raises(Http404):
        schedule_run_now(schedule=admins_only["schedule"], user=analyst)
    outsider = MembershipFactory(role=Role.SUPER_ADMIN).user  # super admin: acts everywhere
    for user in (outsider, None):  # None: the command line
        execution_request(
            template=admins_only["template"], parameters=MARCH, requested_by=user,
            trigger="cli", enqueue=False,
        )  # fmt: skip
    assert ReportExecution.objects.count() == 3


def test_an_analyst_role_template_is_hidden_from_viewers_even_when_public(organization, invoices):
    template = ReportTemplateFactory(
        organization=organization, sources=[invoices], run_role=Role.ANALYST, is_public=True
    )
    viewer = client_as(organization, Role.VIEWER)
    assert viewer.get(f"{BI}/report-templates/{template.pk}").status_code == 404
    analyst = client_as(organization, Role.ANALYST)
    assert analyst.get(f"{BI}/report-templates/{template.pk}").status_code == 200


# --- the admin site --------------------------------------------------------------------------


def staff_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_admin_shows_and_sets_the_run_role(organization, billing_template, super_admin):
    super_admin.is_staff = True
    super_admin.is_superuser = True
    super_admin.save()
    staff = staff_client(super_admin)
    listing = staff.get("/admin/reporting/reporttemplate/").content.decode()
    assert "run_role" in listing  # the column and the filter
    url = f"/admin/reporting/reporttemplate/{billing_template.pk}/change/"
    form = staff.get(url).content.decode()
    assert 'name="run_role"' in form
    response = staff.post(
        url,
        {
            "organization": organization.pk,
            "name": billing_template.name,
            "slug": billing_template.slug,
            "report_type": "financial",
            "output_formats": '["csv"]',
            "parameters_schema": json.dumps(BILLING_SCHEMA),
            "charts": "[]",
            "is_public": "on",
            "run_role": "admin",
            "sources-TOTAL_FORMS": "0",
            "sources-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    billing_template.refresh_from_db()
    assert billing_template.run_role == Role.ADMIN
    analyst = client_as(organization, Role.ANALYST)
    assert analyst.get(f"{BI}/report-templates/{billing_template.pk}").status_code == 404


def test_a_staff_analyst_cannot_run_an_admin_only_template_from_the_admin(
    organization, admins_only, analyst
):
    analyst.is_staff = True
    analyst.save()
    url = f"/admin/reporting/reporttemplate/{admins_only['template'].pk}/run/"
    response = staff_client(analyst).post(
        url, {"month": "03", "year": "2025", "output_formats": ["csv"]}
    )
    assert response.status_code == 404
    assert ReportExecution.objects.count() == 1


def test_the_api_shows_and_sets_the_run_role(admin_client_api, organization):
    members = DataSourceFactory(
        organization=organization, source_type="dataset", query="",
        config={"dataset": "organization_members"},
    )  # fmt: skip
    schema = {"type": "object", "properties": {"role": {"type": "string"}}}
    body = {"name": "Payroll", "output_formats": ["csv"], "data_source_ids": [members.pk],
            "parameters_schema": schema, "run_role": "admin"}  # fmt: skip
    created = admin_client_api.post(TEMPLATES, body, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["run_role"] == "admin"
    assert ReportTemplate.objects.get(pk=created.json()["id"]).run_role == "admin"
    refused = admin_client_api.post(TEMPLATES, {**body, "run_role": "owner"}, format="json")
    assert refused.status_code == 400
    assert "run_role" in refused.json()
