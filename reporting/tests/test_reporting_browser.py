"""Running a report in a real browser, and the offline API docs (Playwright, Debian's Chromium).

The report runs, and is delivered, on a real worker, so that test needs the PostgreSQL test
database and a Redis broker (it is skipped on SQLite, like the other live-worker tests).
"""

import subprocess
from pathlib import Path

import pytest

from accounts.models import Organization
from delivery.samples import sample_delivery_folder, sample_delivery_target_load
from reporting.tests.factories import DataSourceFactory, ReportTemplateFactory

pytestmark = pytest.mark.django_db(databases=["default", "reporting"], transaction=True)


def test_a_report_runs_in_three_clicks_from_the_admin_home_and_its_pdf_downloads(
    live_worker, staff_browser, demo_login, delivery_root
):
    organization = Organization.objects.get(slug="demo")
    source = DataSourceFactory(organization=organization, name="Invoices")
    template = ReportTemplateFactory(
        organization=organization, name="Monthly Billing Summary", slug="billing",
        sources=[source], output_formats=["pdf"],
    )  # fmt: skip
    sample_delivery_target_load(organization=organization)
    page = staff_browser.page
    page.goto(f"/admin/reporting/reporttemplate/{template.pk}/change/")
    page.get_by_role("link", name="Run this report").first.click()
    page.wait_for_url(f"**/admin/reporting/reporttemplate/{template.pk}/run/")
    # A newcomer's three clicks from the admin home: Run, Run now, Download PDF (ticking the
    # demo folder on the way is optional).
    page.goto("/admin/")
    page.get_by_role("link", name="Run Monthly Billing Summary").click()
    page.get_by_label("Demo folder (storage)").check()
    staff_browser.screenshot("run-form")
    page.get_by_role("button", name="Run now").click()
    page.wait_for_url("**/admin/reporting/reportexecution/*/change/")
    execution_page = page.url
    page.evaluate("window.notReloaded = true")  # gone if the page reloads

    page.wait_for_function(
        "document.getElementById('execution-status').textContent.trim() === 'Succeeded'",
        timeout=90_000,
    )
    assert page.url == execution_page
    assert page.evaluate("window.notReloaded === true")  # the page followed the run by itself
    assert page.locator("#execution-progress").get_attribute("value") == "100"

    with page.expect_download() as download:
        page.get_by_role("link", name="Download PDF").click()
    pdf = Path(download.value.path()).read_bytes()
    text = subprocess.run(
        ["pdftotext", "-layout", "-", "-"], input=pdf, capture_output=True, check=True
    ).stdout.decode()
    assert "Monthly Billing Summary" in text
    assert "Customer 3" in text  # the source's three rows

    # The demo folder chosen in the form: its delivery is listed, and the PDF is in the folder.
    deliveries = page.locator("#execution-deliveries")
    deliveries.locator(".status-sent").wait_for(timeout=60_000)
    cells = deliveries.locator("tr").first.locator("td").all_inner_texts()
    assert cells[:2] == ["Demo folder (storage)", "sent"]
    staff_browser.screenshot("execution")
    [delivered] = sample_delivery_folder(organization=organization).rglob("*.pdf")
    assert delivered.read_bytes() == pdf
    assert staff_browser.problems == []


def test_the_api_docs_render_with_no_internet(staff_browser, live_server):
    page = staff_browser.page
    elsewhere = []
    page.on(
        "request",
        lambda request: (
            None if request.url.startswith(live_server.url) else elsewhere.append(request.url)
        ),
    )
    page.goto("/api/docs/")
    page.get_by_text("/api/v1/business-intelligence/report-executions").first.wait_for()
    assert elsewhere == []  # everything from this server: nothing from a CDN
    assert staff_browser.problems == []
