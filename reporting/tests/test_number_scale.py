"""Numbers keep their scale (issue 14): money stored as numeric(12,2) shows 13.70, not 13.7,
right-aligned in PDF and HTML, and stays the number 13.7 in XLSX with the format 0.00."""

import io
import re
import subprocess
from datetime import UTC, datetime
from decimal import Decimal

import openpyxl
import pytest
from django.db import connection

from analytics.datasets import RANGE_PARAMETERS
from events.models import RevenueAnalytics
from reporting.models import ReportOutput, report_storage
from reporting.services.executions import execution_request, execution_run
from reporting.tests.factories import DataSourceFactory, ReportTemplateFactory

pytestmark = pytest.mark.usefixtures("report_output_dir")
runs_reports = pytest.mark.django_db(databases=["default", "reporting"], transaction=True)
on_postgresql = pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL only")
MARCH = {"start_date": "2025-03-01", "end_date": "2025-03-31"}
FORMATS = ["pdf", "html", "xlsx"]


def outputs(template, user) -> dict[str, bytes]:
    execution = execution_request(
        template=template, parameters=MARCH, requested_by=user, trigger="api", enqueue=False
    )
    execution_run(execution_id=execution.pk)
    found = {}
    for output in ReportOutput.objects.filter(execution=execution):
        with report_storage().open(output.file.name, "rb") as file:
            found[output.format] = file.read()
    assert sorted(found) == sorted(FORMATS)
    return found


def pdf_text(pdf: bytes) -> str:
    return subprocess.run(
        ["pdftotext", "-layout", "-", "-"], input=pdf, capture_output=True, check=True
    ).stdout.decode("utf-8")


def xlsx_cells(xlsx: bytes, column: str) -> list[tuple[object, str]]:
    """(value, number format) of each data cell of `column` on the first table sheet."""
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx)).worksheets[1]
    header = [cell.value for cell in sheet[1]]
    index = header.index(column) + 1
    return [(row[index - 1].value, row[index - 1].number_format) for row in sheet.iter_rows(2)]


def right_aligned_columns(html: str) -> set[int]:
    return {int(n) for n in re.findall(r"td:nth-child\((\d+)\) \{ text-align: right; \}", html)}


@runs_reports
def test_money_of_a_dataset_shows_two_decimals_in_pdf_and_html_and_stays_a_number_in_xlsx(
    organization, analyst
):
    for transaction, method, amount in (("t1", "card", "13.70"), ("t2", "cash", "27.40")):
        RevenueAnalytics.objects.create(
            organization=organization,
            transaction_id=transaction,
            timestamp=datetime(2025, 3, 10, 12, tzinfo=UTC),
            revenue_source="other",
            amount=Decimal(amount),
            payment_method=method,
        )
    payments = DataSourceFactory(
        organization=organization,
        name="Payments",
        source_type="dataset",
        query="",
        config={"dataset": "analytics_revenue_payment_methods"},
    )
    template = ReportTemplateFactory(
        organization=organization,
        sources=[payments],
        output_formats=FORMATS,
        parameters_schema={"type": "object", "properties": RANGE_PARAMETERS},
    )

    files = outputs(template, analyst)

    pdf = pdf_text(files["pdf"])
    assert re.search(r"card\s+1\s+13\.70\b", pdf)
    assert re.search(r"cash\s+1\s+27\.40\b", pdf)
    html = files["html"].decode("utf-8")
    assert "<td>13.70</td>" in html
    assert "<td>27.40</td>" in html
    assert 3 in right_aligned_columns(html)  # payment_method, transactions, amount
    assert sorted(xlsx_cells(files["xlsx"], "amount")) == [(13.7, "0.00"), (27.4, "0.00")]


@on_postgresql
@runs_reports
def test_a_numeric_column_shows_its_declared_scale_and_a_sum_the_scale_of_its_values(
    organization, analyst
):
    sums = DataSourceFactory(
        organization=organization,
        name="Amounts",
        query=(
            "SELECT v::numeric(12,2) AS amount, sum(v::numeric(12,2)) OVER () AS total, "
            "v::float8 AS ratio FROM (VALUES (13.7), (0.3)) AS t (v) ORDER BY v DESC"
        ),
    )
    template = ReportTemplateFactory(
        organization=organization,
        sources=[sums],
        output_formats=FORMATS,
        parameters_schema={"type": "object", "properties": RANGE_PARAMETERS},
    )

    files = outputs(template, analyst)

    pdf = pdf_text(files["pdf"])
    assert re.search(r"13\.70\s+14\.00\s+13\.7\n", pdf)
    assert re.search(r"0\.30\s+14\.00\s+0\.3\n", pdf)
    assert "<td>13.70</td><td>14.00</td><td>13.7</td>" in files["html"].decode("utf-8")
    assert xlsx_cells(files["xlsx"], "amount") == [(13.7, "0.00"), (0.3, "0.00")]
    assert xlsx_cells(files["xlsx"], "total") == [(14, "0.00"), (14, "0.00")]
    assert xlsx_cells(files["xlsx"], "ratio") == [(13.7, "General"), (0.3, "General")]
