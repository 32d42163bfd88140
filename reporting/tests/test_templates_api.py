import pytest

from reporting.models import ReportTemplate
from reporting.tests.factories import DataSourceFactory, ReportTemplateFactory

TEMPLATES = "/api/v1/business-intelligence/report-templates"


def seed_body(data_source_ids):
    """The first product description's example, as written there."""
    return {
        "name": "Monthly Billing Summary",
        "description": "Summary of billing data for the month",
        "report_type": "financial",
        "output_formats": ["pdf", "csv"],
        "parameters_schema": {
            "type": "object",
            "properties": {
                "month": {"type": "string", "format": "month"},
                "year": {"type": "integer", "minimum": 2000},
            },
            "required": ["month", "year"],
        },
        "data_source_ids": data_source_ids,
        "is_public": False,
    }


@pytest.fixture
def month_sources(organization):
    query = "SELECT %(month)s AS month, %(year)s AS year"
    return [
        DataSourceFactory(organization=organization, name="Billing", query=query),
        DataSourceFactory(organization=organization, name="Payments", query=query),
    ]


def test_the_seed_example_creates_the_template_as_written(analyst_client, month_sources):
    ids = [source.pk for source in month_sources]
    response = analyst_client.post(TEMPLATES, seed_body(ids), format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["name"] == "Monthly Billing Summary"
    assert body["slug"] == "monthly-billing-summary"
    assert body["report_type"] == "financial"
    assert body["output_formats"] == ["pdf", "csv"]
    assert body["parameters_schema"] == seed_body(ids)["parameters_schema"]
    assert body["data_source_ids"] == ids
    assert body["is_public"] is False
    template = ReportTemplate.objects.get(pk=body["id"])
    assert [link.data_source_id for link in template.sources.all()] == ids


def test_excel_is_accepted_as_xlsx(analyst_client, month_sources):
    body = {**seed_body([month_sources[0].pk]), "output_formats": ["excel", "json"]}
    response = analyst_client.post(TEMPLATES, body, format="json")
    assert response.status_code == 201
    assert response.json()["output_formats"] == ["xlsx", "json"]


def test_an_unknown_format_is_a_400_naming_it(analyst_client, month_sources):
    body = {**seed_body([month_sources[0].pk]), "output_formats": ["pdf", "docx"]}
    response = analyst_client.post(TEMPLATES, body, format="json")
    assert response.status_code == 400
    assert "'docx'" in response.json()["output_formats"][0]


def test_a_schema_lacking_a_parameter_the_query_uses_is_a_400(analyst_client, month_sources):
    body = seed_body([month_sources[0].pk])
    del body["parameters_schema"]["properties"]["year"]
    body["parameters_schema"]["required"] = ["month"]
    response = analyst_client.post(TEMPLATES, body, format="json")
    assert response.status_code == 400
    assert "“year”" in response.json()["parameters_schema"][0]
    assert not ReportTemplate.objects.exists()


def test_a_broken_schema_is_a_400_not_a_crash_on_first_run(analyst_client, month_sources):
    body = seed_body([month_sources[0].pk])
    body["parameters_schema"]["properties"]["year"]["minimum"] = "two thousand"
    response = analyst_client.post(TEMPLATES, body, format="json")
    assert response.status_code == 400
    assert "properties/year/minimum" in response.json()["parameters_schema"][0]


def test_another_organisations_data_source_is_an_invalid_id(
    analyst_client, month_sources, other_organization
):
    theirs = DataSourceFactory(organization=other_organization)
    response = analyst_client.post(TEMPLATES, seed_body([theirs.pk]), format="json")
    assert response.status_code == 400
    assert f'Invalid pk "{theirs.pk}"' in response.json()["data_source_ids"][0]


def test_charts_must_name_a_table_of_the_template(analyst_client, month_sources):
    body = seed_body([month_sources[0].pk])
    body["charts"] = [{"table": "nope", "type": "bar", "x": "month", "y": ["year"]}]
    response = analyst_client.post(TEMPLATES, body, format="json")
    assert response.status_code == 400
    assert "'nope'" in response.json()["charts"][0]
    body["charts"][0]["table"] = "billing"
    assert analyst_client.post(TEMPLATES, body, format="json").status_code == 201


def test_a_layout_with_a_syntax_error_is_a_400(analyst_client, month_sources):
    body = {**seed_body([month_sources[0].pk]), "layout": "{% if %}"}
    response = analyst_client.post(TEMPLATES, body, format="json")
    assert response.status_code == 400
    assert "layout" in response.json()


def test_a_layout_name_outside_the_layouts_folder_is_refused(analyst_client, month_sources):
    body = {**seed_body([month_sources[0].pk]), "layout_name": "../../config/settings.py"}
    response = analyst_client.post(TEMPLATES, body, format="json")
    assert response.status_code == 400
    assert "layout_name" in response.json()


def test_viewers_see_only_public_templates_and_cannot_create(viewer_client, organization):
    public = ReportTemplateFactory(organization=organization, is_public=True)
    ReportTemplateFactory(organization=organization, is_public=False)
    response = viewer_client.get(TEMPLATES)
    assert [t["id"] for t in response.json()["results"]] == [public.pk]
    assert viewer_client.post(TEMPLATES, seed_body([]), format="json").status_code == 403


def test_filters_by_report_type_public_and_search(analyst_client, organization):
    ReportTemplateFactory(organization=organization, name="Usage by day", report_type="usage")
    ReportTemplateFactory(
        organization=organization, name="Revenue", report_type="revenue", is_public=False
    )

    def names(query):
        return [t["name"] for t in analyst_client.get(TEMPLATES, query).json()["results"]]

    assert names({"report_type": "usage"}) == ["Usage by day"]
    assert names({"is_public": "false"}) == ["Revenue"]
    assert names({"search": "usage"}) == ["Usage by day"]


def test_another_organisations_template_is_404(analyst_client, foreign_template):
    assert analyst_client.get(f"{TEMPLATES}/{foreign_template.pk}").status_code == 404
    response = analyst_client.patch(
        f"{TEMPLATES}/{foreign_template.pk}", {"name": "x"}, format="json"
    )
    assert response.status_code == 404


def test_update_keeps_the_rules(analyst_client, billing_template):
    url = f"{TEMPLATES}/{billing_template.pk}"
    response = analyst_client.patch(url, {"output_formats": ["excel"]}, format="json")
    assert response.status_code == 200
    assert response.json()["output_formats"] == ["xlsx"]
    schema = {"type": "object", "properties": {}}
    response = analyst_client.patch(url, {"parameters_schema": schema}, format="json")
    assert response.status_code == 400


def test_a_template_with_executions_is_kept(analyst_client, billing_template, analyst):
    from reporting.services.executions import execution_request

    execution_request(
        template=billing_template,
        parameters={"month": "03", "year": 2025},
        requested_by=analyst,
        trigger="api",
    )
    response = analyst_client.delete(f"{TEMPLATES}/{billing_template.pk}")
    assert response.status_code == 400
    assert ReportTemplate.objects.filter(pk=billing_template.pk).exists()


def test_changes_to_templates_and_data_sources_are_audited(
    admin_client_api, billing_template, invoices
):
    from auditlog.models import LogEntry

    source_url = f"/api/v1/business-intelligence/data-sources/{invoices.pk}"
    response = admin_client_api.patch(source_url, {"description": "Paid only"}, format="json")
    assert response.status_code == 200
    entry = LogEntry.objects.get_for_object(invoices).latest("timestamp")
    assert entry.changes_dict["description"][1] == "Paid only"

    url = f"{TEMPLATES}/{billing_template.pk}"
    response = admin_client_api.patch(url, {"description": "Now with totals"}, format="json")
    assert response.status_code == 200
    entry = LogEntry.objects.get_for_object(billing_template).latest("timestamp")
    assert entry.action == LogEntry.Action.UPDATE
    assert entry.changes_dict["description"][1] == "Now with totals"
