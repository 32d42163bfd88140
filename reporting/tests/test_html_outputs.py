"""HTML outputs stay inert (issue 11): a layout's scripts never reach the file, layouts render
with a restricted template engine, and downloads carry a sandboxing CSP as attachments."""

import pytest

from reporting.links import output_link
from reporting.models import ReportOutput, report_storage
from reporting.services.executions import execution_request, execution_run
from reporting.tests.factories import BILLING_SCHEMA, ReportTemplateFactory

TEMPLATES = "/api/v1/business-intelligence/report-templates"
EXECUTIONS = "/api/v1/business-intelligence/report-executions"
MARCH = {"month": "03", "year": 2025}
HOSTILE_LAYOUT = (
    "<html><body><h1>{{ title }}</h1><script>alert(1)</script>"
    '<img src=x onerror="alert(2)"><a href="javascript:alert(3)">open</a>'
    '<p onclick="alert(4)">{% for table in tables %}{{ table.row_count }} rows{% endfor %}</p>'
    "</body></html>"
)

pytestmark = pytest.mark.usefixtures("report_output_dir")
runs_reports = pytest.mark.django_db(databases=["default", "reporting"], transaction=True)


def html_output(template, user) -> ReportOutput:
    execution = execution_request(
        template=template, parameters=MARCH, requested_by=user, trigger="api", enqueue=False
    )
    execution_run(execution_id=execution.pk)
    return execution.outputs.get(format="html")


def file_bytes(output: ReportOutput) -> bytes:
    with report_storage().open(output.file.name, "rb") as file:
        return file.read()


@runs_reports
def test_an_analysts_scripts_and_event_handlers_never_reach_the_html_file(
    organization, invoices, analyst
):
    template = ReportTemplateFactory(
        organization=organization,
        sources=[invoices],
        output_formats=["html"],
        layout=HOSTILE_LAYOUT,
    )
    html = file_bytes(html_output(template, analyst)).lower()
    assert b"3 rows" in html
    assert template.name.lower().encode() in html
    for forbidden in (b"<script", b"alert(", b"onerror", b"onclick", b"javascript:"):
        assert forbidden not in html


@runs_reports
def test_a_layout_cannot_print_internal_paths(organization, invoices, analyst, settings):
    template = ReportTemplateFactory(
        organization=organization,
        sources=[invoices],
        output_formats=["html"],
        layout="<p>{{ document }}|{{ tables }}|{{ branding }}|{{ charts }}</p>",
    )
    html = file_bytes(html_output(template, analyst)).decode()
    for internal in (str(settings.REPORT_SPOOL_DIR), str(settings.BASE_DIR), "PosixPath"):
        assert internal not in html


@runs_reports
def test_the_default_layout_keeps_its_chart_and_branding(organization, invoices, analyst):
    organization.name, organization.report_footer = "Acme Makers", "Internal use only"
    organization.brand_colour = "#aa3300"
    organization.save()
    chart = {"table": "invoices", "type": "bar", "x": "customer", "y": ["amount_cents"]}
    template = ReportTemplateFactory(
        organization=organization, sources=[invoices], output_formats=["html"], charts=[chart]
    )
    html = file_bytes(html_output(template, analyst)).decode()
    assert html.startswith("<!DOCTYPE html>")
    assert '<svg xmlns="http://www.w3.org/2000/svg"' in html
    assert 'viewBox="0 0 ' in html
    assert "<rect " in html
    assert "Customer 2 · amount_cents: 20" in html
    assert "Acme Makers" in html
    assert "Internal use only" in html
    assert "--brand: #aa3300" in html
    assert '<table class="data" id="table-1">' in html
    assert "<td>Customer 3</td>" in html


@runs_reports
def test_html_downloads_are_sandboxed_attachments(
    organization, invoices, analyst, analyst_client, client
):
    template = ReportTemplateFactory(
        organization=organization,
        sources=[invoices],
        output_formats=["html"],
        layout=HOSTILE_LAYOUT,
    )
    output = html_output(template, analyst)
    api = analyst_client.get(f"/api/v1/business-intelligence/report-outputs/{output.pk}/download")
    link = client.get(output_link(output).removeprefix("http://127.0.0.1:8000"))
    for response in (api, link):
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/html")
        assert response["Content-Disposition"].startswith("attachment; filename=")
        assert response["X-Content-Type-Options"] == "nosniff"
        policy = [part.strip() for part in response["Content-Security-Policy"].split(";")]
        assert policy[0] == "sandbox"
        assert "default-src 'none'" in policy
        assert "script-src" not in response["Content-Security-Policy"]
        assert b"<script" not in b"".join(response.streaming_content)


@pytest.mark.parametrize(
    ("layout", "named"),
    [
        ("{% debug %}", "'debug'"),
        ("{% load static %}<img src=\"{% static 'x.png' %}\">", "'static'"),
        ("{% load i18n %}", "'i18n'"),
        ('{% include "/etc/passwd" %}', "/etc/passwd"),
        ('{% extends "/etc/passwd" %}', "/etc/passwd"),
        ('{% include "../../config/settings.py" %}', "../../config/settings.py"),
        ('{% include "reports/missing.html" %}', "reports/missing.html"),
    ],
)
def test_forbidden_layout_tags_are_a_400_naming_the_layout_and_the_tag(
    analyst_client, invoices, layout, named
):
    body = {
        "name": "Hostile",
        "output_formats": ["html"],
        "parameters_schema": BILLING_SCHEMA,
        "data_source_ids": [invoices.pk],
        "layout": layout,
    }
    response = analyst_client.post(TEMPLATES, body, format="json")
    assert response.status_code == 400, response.json()
    [message] = response.json()["layout"]
    assert named in message


def test_layouts_may_include_the_default_layouts_parts(analyst_client, invoices):
    body = {
        "name": "Own layout",
        "output_formats": ["html"],
        "parameters_schema": BILLING_SCHEMA,
        "data_source_ids": [invoices.pk],
        "layout": '<style>{% include "reports/_styles.html" %}</style>'
        '{% for table in tables %}{% include "reports/_table.html" %}{% endfor %}'
        "{{ title|upper }} {% now 'Y' %}",
    }
    response = analyst_client.post(TEMPLATES, body, format="json")
    assert response.status_code == 201, response.json()
