"""The first product description's two API examples, end to end through a real Celery worker."""

import io
import subprocess
import time
import zipfile

import pytest
from rest_framework.test import APIClient

from reporting.tests.factories import DataSourceFactory

BI = "/api/v1/business-intelligence"
INVOICES = """
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 25)
SELECT i AS invoice, 'Customer ' || i AS customer, i * 1250 AS amount_cents,
       %(year)s AS year, %(month)s AS month
FROM n ORDER BY i
"""
TOTALS = "SELECT %(month)s AS month, %(year)s AS year, 25 AS invoices, 406250 AS total_cents"


def wait_until_finished(client, url, timeout=90):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(url).json()
        if body["status"] in ("succeeded", "failed", "cancelled"):
            return body
        time.sleep(0.3)
    pytest.fail(f"the execution did not finish within {timeout} s: {body}")


@pytest.mark.django_db(databases=["default", "reporting"], transaction=True)
def test_seed_examples_run_through_a_worker(live_worker, organization, analyst):
    client = APIClient()
    client.force_authenticate(analyst)
    invoices = DataSourceFactory(organization=organization, name="Invoices", query=INVOICES)
    totals = DataSourceFactory(organization=organization, name="Totals", query=TOTALS)

    template = client.post(f"{BI}/report-templates", {
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
        "data_source_ids": [invoices.pk, totals.pk],
        "is_public": False,
    }, format="json")  # fmt: skip
    assert template.status_code == 201, template.json()

    execution = client.post(f"{BI}/report-executions", {
        "template_id": template.json()["id"],
        "parameters": {"month": "03", "year": 2025},
    }, format="json")  # fmt: skip
    assert execution.status_code == 202, execution.json()

    finished = wait_until_finished(client, execution["Location"])
    assert finished["status"] == "succeeded", finished["error"]
    assert finished["row_count"] == 26
    outputs = {o["format"]: o for o in finished["outputs"]}
    execution_id = finished["id"]
    assert outputs["pdf"]["filename"] == f"monthly-billing-summary_2025-03_{execution_id}.pdf"

    pdf = b"".join(client.get(outputs["pdf"]["download_url"]).streaming_content)
    text = subprocess.run(
        ["pdftotext", "-layout", "-", "-"], input=pdf, capture_output=True, check=True
    ).stdout.decode()
    assert "Monthly Billing Summary" in text
    assert "Acme Makerspace" in text
    assert "Customer 25" in text
    assert "406250" in text
    assert "Page 1 of" in text

    archive = b"".join(client.get(outputs["csv"]["download_url"]).streaming_content)
    with zipfile.ZipFile(io.BytesIO(archive)) as csv_files:
        assert sorted(csv_files.namelist()) == ["invoices.csv", "totals.csv"]
        assert csv_files.read("totals.csv") == (
            b"month,year,invoices,total_cents\n03,2025,25,406250\n"
        )
        lines = csv_files.read("invoices.csv").decode().splitlines()
    assert lines[0] == "invoice,customer,amount_cents,year,month"
    assert lines[25] == "25,Customer 25,31250,2025,03"


@pytest.mark.django_db(databases=["default", "reporting"], transaction=True)
def test_a_long_pdf_renders_in_chunks_inside_a_prefork_worker(live_worker, organization, analyst):
    """Prefork workers are daemonic processes, which may not start a multiprocessing pool."""
    from reporting.tests.factories import ReportTemplateFactory

    rows = DataSourceFactory(organization=organization, name="Rows", query=(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1500) "
        "SELECT i AS row_number, 'Row ' || i AS label FROM n ORDER BY i"
    ))  # fmt: skip
    template = ReportTemplateFactory(
        organization=organization, sources=[rows], output_formats=["pdf"],
        parameters_schema={"type": "object"}, slug="long-pdf",
    )  # fmt: skip
    client = APIClient()
    client.force_authenticate(analyst)
    response = client.post(f"{BI}/report-executions", {"template_id": template.pk}, format="json")
    finished = wait_until_finished(client, response["Location"], timeout=180)
    assert finished["status"] == "succeeded", finished["error"]
    pdf = b"".join(client.get(finished["outputs"][0]["download_url"]).streaming_content)
    text = subprocess.run(
        ["pdftotext", "-layout", "-", "-"], input=pdf, capture_output=True, check=True
    ).stdout.decode()
    pages = text.split("\f")
    last = len([page for page in pages if page.strip()])
    assert last > 10
    assert f"Page 1 of {last}" in pages[0]
    assert f"Page {last} of {last}" in pages[last - 1]
    for i in (1, 750, 1500):
        assert f"Row {i}" in text
