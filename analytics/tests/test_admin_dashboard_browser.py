"""The analytics dashboard in a real browser (Chromium through Playwright, on a live server)."""

import json
from datetime import date, timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook
from playwright.sync_api import expect

from accounts.models import Role
from accounts.tests.factories import MembershipFactory
from analytics.models import AnalyticsReportRequest
from reporting.tasks import process_report_execution

DASHBOARD = "/admin/analytics/dashboard/"
CHARTS = [
    "usage-events-by-category",
    "usage-active-users",
    "usage-peak-hours-by-weekday",
    "usage-peak-hours",
    "usage-logins-by-weekday",
    "equipment-utilisation",
    "equipment-sessions-minutes",
    "equipment-maintenance",
    "inventory-cost-by-item",
    "inventory-waste-efficiency",
    "inventory-reorders-by-item",
    "inventory-reorders-over-time",
    "projects-by-status",
    "projects-bom-materials",
    "revenue-by-source",
    "revenue-by-payment-method",
    "revenue-growth",
]
# True when some pixel of the canvas is not transparent: Chart.js drew on it.
CANVAS_DRAWN = """canvas => {
    const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
    for (let i = 3; i < pixels.length; i += 4) if (pixels[i] > 0) return true;
    return false;
}"""
# Figures for the issue (no timed assertion): when the page was usable, each data request's
# duration, and the bytes the page transferred.
TIMINGS = """() => {
    const navigation = performance.getEntriesByType("navigation")[0];
    const resources = performance.getEntriesByType("resource");
    return {
        usable_ms: Math.round(performance.getEntriesByName("dashboard-ready")[0].startTime),
        data_requests_ms: Object.fromEntries(resources
            .filter(entry => entry.name.includes("/api/v1/analytics/"))
            .map(entry => [new URL(entry.name).pathname + new URL(entry.name).search,
                           Math.round(entry.duration)])),
        page_bytes: resources.reduce((total, entry) => total + entry.encodedBodySize,
                                     navigation.encodedBodySize),
    };
}"""


@pytest.fixture
def org_admin_browser(browser, organization, settings):
    # An organisation with no data yet and mock data on: the demo's first look.
    settings.ANALYTICS_USE_MOCK_DATA = True
    admin = MembershipFactory(organization=organization, role=Role.ADMIN, user__is_staff=True)
    browser.admin_login(username=admin.user.username, password="secret-password")
    return browser


def _open(page, query: str = "") -> None:
    page.goto(DASHBOARD + query)
    page.wait_for_selector("body[data-dashboard-ready=true]")


def _card(page, key: str) -> str:
    return page.get_attribute(f"[data-card={key}] .card-value", "data-value")


def test_org_admin_sees_every_chart_drawn_and_the_cards_equal_the_api(org_admin_browser):
    browser, page = org_admin_browser, org_admin_browser.page

    _open(page)

    expect(page.locator("[data-chart]")).to_have_count(len(CHARTS))
    for chart in CHARTS:
        section = chart.split("-")[0]
        canvas = page.locator(f"[data-section={section}] [data-chart={chart}] canvas")
        assert canvas.evaluate(CANVAS_DRAWN), f"{chart} drew nothing"
    headings = page.locator(".dashboard-section > h2").all_inner_texts()
    assert headings == ["Usage", "Equipment", "Inventory", "Projects", "Revenue"]
    expect(page.locator("#mock-badge")).to_be_visible()
    expect(page.locator("#mock-badge")).to_have_text("Sample data")
    config = page.evaluate("JSON.parse(document.getElementById('dashboard-config').textContent)")
    overview = page.request.get(
        "/api/v1/analytics/overview",
        params={"org": "acme", "start_date": config["start_date"], "end_date": config["end_date"]},
    ).json()
    assert _card(page, "total_events") == str(overview["total_events"])
    assert _card(page, "revenue") == overview["revenue"]
    timings = browser.screenshot().with_name("dashboard-timings.json")
    timings.write_text(json.dumps(page.evaluate(TIMINGS), indent=2))
    assert browser.problems == []


def test_a_shorter_range_changes_the_numbers_and_the_url(org_admin_browser):
    browser, page = org_admin_browser, org_admin_browser.page
    _open(page)
    thirty_days = _card(page, "total_events")

    with page.expect_navigation():
        page.select_option("select[name=range]", "last_7")
    page.wait_for_selector("body[data-dashboard-ready=true]")

    assert "range=last_7" in page.url
    assert _card(page, "total_events") != thirty_days
    rows = page.locator("[data-chart=usage-active-users] details tbody tr")
    assert rows.count() == 7
    assert browser.problems == []


def test_an_empty_range_shows_an_empty_state_not_broken_charts(browser, organization):
    admin = MembershipFactory(organization=organization, role=Role.ADMIN, user__is_staff=True)
    browser.admin_login(username=admin.user.username, password="secret-password")
    page = browser.page

    _open(page)

    expect(page.locator("#dashboard-empty")).to_be_visible()
    expect(page.locator("#mock-badge")).to_be_hidden()
    expect(page.locator(".chart-empty")).to_have_count(len(CHARTS))
    expect(page.locator("[data-chart] canvas")).to_have_count(0)
    assert _card(page, "total_events") == "0"
    assert browser.problems == []


def test_a_charts_csv_holds_the_apis_numbers(org_admin_browser):
    page = org_admin_browser.page
    _open(page, "?range=last_7&period=daily")
    config = page.evaluate("JSON.parse(document.getElementById('dashboard-config').textContent)")
    usage = page.request.get(
        "/api/v1/analytics/usage",
        params={"org": "acme", "start_date": config["start_date"], "end_date": config["end_date"]},
    ).json()

    with page.expect_download() as download:
        page.click("[data-chart=usage-active-users] .csv-download")
    lines = Path(download.value.path()).read_text().splitlines()

    assert download.value.suggested_filename == (
        f"usage-active-users-{config['start_date']}-{config['end_date']}.csv"
    )
    assert lines[0] == '"Period start (daily, Europe/Berlin)",Active users'
    assert lines[1:] == [f"{row['period_start']},{row['active_users']}" for row in usage["series"]]
    assert org_admin_browser.problems == []


def test_a_report_requested_from_the_dashboard_is_offered_for_download_when_ready(
    org_admin_browser, monkeypatch
):
    queued = []
    # The broker is the edge: the execution is collected here and run as a worker would.
    monkeypatch.setattr(
        process_report_execution,
        "apply_async",
        lambda args, task_id=None, **options: queued.append(args[0]),
    )
    browser, page = org_admin_browser, org_admin_browser.page
    _open(page, "?range=last_month")

    usage = page.locator("[data-section=usage]")
    usage.locator("[data-report-type=usage][data-report-format=xlsx]").click()
    expect(usage.locator(".report-requests li[data-status=queued]")).to_have_count(1)
    process_report_execution(queued[0])

    link = usage.locator(".report-requests li[data-status=succeeded] .report-download")
    expect(link).to_have_text("Download XLSX")
    with page.expect_download() as download:
        link.click()
    assert download.value.suggested_filename.endswith(".xlsx")
    with open(download.value.path(), "rb") as file:
        workbook = load_workbook(file)
    summary = workbook["Summary"]
    assert summary["A1"].value == "Usage report"
    assert workbook.sheetnames[:2] == ["Summary", "Usage - daily activity"]
    config = page.evaluate("JSON.parse(document.getElementById('dashboard-config').textContent)")
    parameters = {row[0]: row[1] for row in summary.iter_rows(values_only=True) if row[0]}
    assert str(parameters["start_date"])[:10] == config["start_date"]
    assert str(parameters["end_date"])[:10] == config["end_date"]
    report_request = AnalyticsReportRequest.objects.get()
    assert (report_request.report_type, report_request.format) == ("usage", "xlsx")
    expect(page.locator("[data-section=revenue] .report-requests li")).to_have_count(0)
    browser.screenshot("report-ready")
    assert browser.problems == []


def test_the_heatmap_tables_the_apis_events_by_weekday_and_hour(org_admin_browser):
    page = org_admin_browser.page
    _open(page, "?range=last_30")
    config = page.evaluate("JSON.parse(document.getElementById('dashboard-config').textContent)")
    cells = page.request.get(
        "/api/v1/analytics/usage",
        params={"org": "acme", "start_date": config["start_date"], "end_date": config["end_date"]},
    ).json()["peak_hours_by_weekday"]
    heatmap = page.locator("[data-chart=usage-peak-hours-by-weekday]")

    with page.expect_download() as download:
        heatmap.locator(".csv-download").click()
    lines = Path(download.value.path()).read_text().splitlines()

    assert lines[0] == "Local weekday / hour (Europe/Berlin)," + ",".join(
        f"{hour:02}:00" for hour in range(24)
    )
    weekdays = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
    assert lines[1:] == [
        ",".join([name] + [str(c["events"]) for c in cells if c["weekday"] == weekday])
        for weekday, name in enumerate(weekdays)
    ]
    saturday = heatmap.locator("details tbody tr").nth(5)
    expect(saturday.locator("th")).to_have_text("Saturday")
    most = max(c["events"] for c in cells)
    assert most > 0
    expect(heatmap.locator(".heat-legend")).to_contain_text(f"{most} events (busiest hour)")
    # Drawn as a calendar reads: Monday's row above Sunday's.
    rows_y = heatmap.locator("canvas").evaluate(
        "canvas => { const cells = Chart.getChart(canvas).getDatasetMeta(0).data;"
        " return [cells[0].y, cells[6 * 24].y]; }"
    )
    assert rows_y[0] < rows_y[1]
    heatmap.screenshot(path=org_admin_browser.screenshot().with_name("dashboard-heatmap.png"))
    assert org_admin_browser.problems == []


def test_a_custom_range_changes_the_numbers_and_stays_in_the_url(org_admin_browser):
    browser, page = org_admin_browser, org_admin_browser.page
    _open(page)
    thirty_days = _card(page, "total_events")
    config = page.evaluate("JSON.parse(document.getElementById('dashboard-config').textContent)")
    end = date.fromisoformat(config["end_date"]) - timedelta(days=3)
    start = end - timedelta(days=9)

    page.fill("input[name=start]", start.isoformat())
    page.fill("input[name=end]", end.isoformat())
    expect(page.locator("select[name=range]")).to_have_value("custom")
    with page.expect_navigation():
        page.click("#dashboard-controls button[type=submit]")
    page.wait_for_selector("body[data-dashboard-ready=true]")

    assert f"range=custom&start={start}&end={end}" in page.url
    assert _card(page, "total_events") != thirty_days
    expect(page.locator(".dashboard-range")).to_contain_text(f"{start} to {end}")
    rows = page.locator("[data-chart=usage-active-users] details tbody tr")
    assert rows.count() == 10
    overview = page.request.get(
        "/api/v1/analytics/overview",
        params={"org": "acme", "start_date": start.isoformat(), "end_date": end.isoformat()},
    ).json()
    assert _card(page, "total_events") == str(overview["total_events"])
    assert browser.problems == []


def test_a_reversed_custom_range_is_explained_not_drawn(org_admin_browser):
    page = org_admin_browser.page
    _open(page)

    page.fill("input[name=start]", "2025-03-02")
    page.fill("input[name=end]", "2025-03-01")
    with page.expect_navigation():
        page.click("#dashboard-controls button[type=submit]")

    expect(page.locator("#range-error")).to_have_text(
        "This range cannot be shown. The start date is after the end date."
    )
    expect(page.locator("[data-chart]")).to_have_count(0)
    # Back to a preset from the error page.
    with page.expect_navigation():
        page.select_option("select[name=range]", "last_7")
    page.wait_for_selector("body[data-dashboard-ready=true]")
    assert "range=last_7" in page.url
    assert "start=" not in page.url
    # The refused range's page answered 400, as the API does: Chromium logs that, nothing else.
    (problem,) = org_admin_browser.problems
    assert "status of 400 (Bad Request)" in problem
    assert "range=custom&start=2025-03-02&end=2025-03-01" in problem


def test_the_sidebar_link_opens_the_dashboard(org_admin_browser):
    browser, page = org_admin_browser, org_admin_browser.page
    page.goto("/admin/analytics/analyticsreportrequest/")

    link = page.locator("#nav-sidebar .app-analytics a", has_text="Dashboard")
    with page.expect_navigation():
        link.click()
    page.wait_for_selector("body[data-dashboard-ready=true]")

    assert page.url.endswith(DASHBOARD)
    expect(page.locator("h1")).to_contain_text("Analytics: Acme Makerspace")
    expect(page.locator("#nav-sidebar .app-analytics a[aria-current=page]")).to_have_text(
        "Dashboard"
    )
    assert browser.problems == []


def test_the_page_asks_for_the_dashboard_and_the_range_before_only(org_admin_browser):
    # The dashboard's answer holds this range's overview: asked for again, a cold cache would
    # compute it twice. The range before is asked for on its own, for the cards' growth.
    page = org_admin_browser.page
    _open(page)

    config = page.evaluate("JSON.parse(document.getElementById('dashboard-config').textContent)")
    requested = page.evaluate("""() => performance.getEntriesByType("resource")
        .map(entry => new URL(entry.name))
        .filter(url => url.pathname.startsWith("/api/v1/analytics/"))
        .map(url => [url.pathname, url.searchParams.get("start_date")])""")
    assert sorted(requested) == [
        ["/api/v1/analytics/dashboard", config["start_date"]],
        ["/api/v1/analytics/overview", config["previous_start_date"]],
    ]
    assert _card(page, "total_events") != ""
    assert org_admin_browser.problems == []
