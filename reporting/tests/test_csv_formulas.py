"""CSV formula injection: report CSV outputs neutralise formula-leading text cells, read back as
bytes, unless the template turns it off; the option in the API, its schema and the admin."""

import pytest
from django.test import Client

from accounts.tests.factories import UserFactory
from reporting.models import ExecutionStatus, ReportTemplate, report_storage
from reporting.services.executions import execution_request, execution_run
from reporting.tests.factories import DataSourceFactory, ReportTemplateFactory

TEMPLATES = "/api/v1/business-intelligence/report-templates"
# The same query on PostgreSQL (COPY into the spool) and SQLite (the portable spool).
FORMULA_SQL = (
    "SELECT '=HYPERLINK(\"http://evil\",\"x\")' AS label, -5 AS delta, '@SUM(A1)' AS note "
    "UNION ALL SELECT 'plain', 7, '-2+3'"
)

pytestmark = pytest.mark.usefixtures("report_output_dir")
runs_reports = pytest.mark.django_db(databases=["default", "reporting"], transaction=True)


def csv_output_bytes(organization, user, *, escaping: bool) -> bytes:
    source = DataSourceFactory(organization=organization, query=FORMULA_SQL)
    template = ReportTemplateFactory(
        organization=organization,
        sources=[source],
        parameters_schema={"type": "object"},
        csv_formula_escaping=escaping,
    )
    execution = execution_request(
        template=template, parameters={}, requested_by=user, trigger="api", enqueue=False
    )
    execution = execution_run(execution_id=execution.pk)
    assert execution.status == ExecutionStatus.SUCCEEDED, execution.error
    with report_storage().open(execution.outputs.get(format="csv").file.name) as file:
        return file.read()


@runs_reports
def test_report_csv_formula_cells_come_back_with_a_leading_quote(organization, viewer):
    assert csv_output_bytes(organization, viewer, escaping=True) == (
        b'label,delta,note\n"\'=HYPERLINK(""http://evil"",""x"")",-5,\'@SUM(A1)\nplain,7,\'-2+3\n'
    )


@runs_reports
def test_report_csv_with_formula_escaping_off_keeps_the_cells_as_they_were(organization, viewer):
    assert csv_output_bytes(organization, viewer, escaping=False) == (
        b'label,delta,note\n"=HYPERLINK(""http://evil"",""x"")",-5,@SUM(A1)\nplain,7,-2+3\n'
    )


def test_formula_escaping_is_on_by_default_and_set_through_the_api(
    analyst_client, billing_template
):
    url = f"{TEMPLATES}/{billing_template.pk}"
    assert analyst_client.get(url).json()["csv_formula_escaping"] is True

    response = analyst_client.patch(url, {"csv_formula_escaping": False}, format="json")

    assert response.status_code == 200, response.json()
    assert response.json()["csv_formula_escaping"] is False
    billing_template.refresh_from_db()
    assert billing_template.csv_formula_escaping is False


def test_formula_escaping_is_in_the_openapi_schema(analyst_client):
    schema = analyst_client.get("/api/schema/", {"format": "json"}).json()["components"]
    for name in ("ReportTemplate", "ReportTemplateWrite"):
        field = schema["schemas"][name]["properties"]["csv_formula_escaping"]
        assert field["type"] == "boolean"


def test_template_admin_shows_formula_escaping_on_by_default(db, billing_template):
    staff = Client()
    staff.force_login(UserFactory(is_staff=True, is_superuser=True))
    url = f"/admin/reporting/reporttemplate/{billing_template.pk}/change/"

    page = staff.get(url).content.decode()

    assert 'name="csv_formula_escaping"' in page
    assert "checked" in page.split('name="csv_formula_escaping"')[1].split(">")[0]
    assert ReportTemplate._meta.get_field("csv_formula_escaping").default is True
