"""The analytics dashboard page in the admin: who may open it, what it asks the API for, and
that everything it loads is served from here."""

import json
import re
from datetime import UTC, datetime

import pytest
import time_machine
from django.contrib.staticfiles import finders
from django.test import Client, override_settings

from accounts.models import Role
from accounts.tests.factories import MembershipFactory, UserFactory

DASHBOARD = "/admin/analytics/dashboard/"
CHART_LIBRARY = "vendor/chart.js-4.6.2/chart.umd.min.js"
MATRIX_PLUGIN = "vendor/chartjs-chart-matrix-3.1.0/chartjs-chart-matrix.min.js"


def _staff(organization, role: Role):
    user = MembershipFactory(organization=organization, role=role, user__is_staff=True).user
    client = Client()
    client.force_login(user)
    return client


def _config(response) -> dict:
    match = re.search(
        r'<script id="dashboard-config" type="application/json">(.*?)</script>',
        response.content.decode(),
        re.S,
    )
    return json.loads(match.group(1))


def test_an_organisation_admin_sees_the_dashboard_of_their_organisation(organization):
    response = _staff(organization, Role.ADMIN).get(DASHBOARD)

    assert response.status_code == 200
    assert b"Analytics: Acme Makerspace" in response.content
    config = _config(response)
    assert config["organization"] == "acme"
    assert config["time_zone"] == "Europe/Berlin"
    assert config["overview_url"] == "/api/v1/analytics/overview"
    assert config["dashboard_url"] == "/api/v1/analytics/dashboard"


def test_a_superuser_chooses_the_organisation(organization, other_organization):
    client = Client()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))

    response = client.get(DASHBOARD, {"org": "northwind"})

    assert response.status_code == 200
    assert _config(response)["organization"] == "northwind"
    assert b'<option value="acme">Acme Makerspace</option>' in response.content
    assert b'<option value="northwind" selected>Northwind ISP</option>' in response.content


@pytest.mark.parametrize("role", [Role.VIEWER, Role.ANALYST])
def test_a_staff_viewer_or_analyst_is_refused(organization, role):
    assert _staff(organization, role).get(DASHBOARD).status_code == 403


def test_a_member_who_is_not_staff_is_sent_to_the_login(viewer):
    client = Client()
    client.force_login(viewer)

    response = client.get(DASHBOARD)

    assert response.status_code == 302
    assert response.url.startswith("/admin/login/")


def test_another_organisation_is_a_404(organization, other_organization):
    client = _staff(organization, Role.ADMIN)

    assert client.get(DASHBOARD, {"org": "northwind"}).status_code == 404
    assert client.get(DASHBOARD, {"org": "no-such-org"}).status_code == 404


@time_machine.travel(datetime(2025, 4, 2, 10, 0, tzinfo=UTC), tick=False)
def test_range_and_period_come_from_the_url_in_the_organisations_days(organization):
    response = _staff(organization, Role.ADMIN).get(
        DASHBOARD, {"range": "last_month", "period": "weekly"}
    )

    config = _config(response)
    assert (config["start_date"], config["end_date"]) == ("2025-03-01", "2025-03-31")
    assert (config["previous_start_date"], config["previous_end_date"]) == (
        "2025-01-29",
        "2025-02-28",
    )
    assert config["period"] == "weekly"
    assert b'<option value="last_month" selected>Last month</option>' in response.content


@time_machine.travel(datetime(2025, 4, 2, 10, 0, tzinfo=UTC), tick=False)
def test_an_unknown_range_or_period_falls_back_to_the_last_30_days_daily(organization):
    response = _staff(organization, Role.ADMIN).get(DASHBOARD, {"range": "x", "period": "y"})

    config = _config(response)
    assert (config["start_date"], config["end_date"], config["period"]) == (
        "2025-03-04",
        "2025-04-02",
        "daily",
    )


def test_the_page_loads_only_local_files(organization):
    html = _staff(organization, Role.ADMIN).get(DASHBOARD).content.decode()

    sources = re.findall(r'<script[^>]+src="([^"]+)"', html)
    sources += re.findall(r'<link[^>]+href="([^"]+)"', html)
    assert sources
    assert not [s for s in sources if re.match(r"(https?:)?//", s)], sources
    assert f"/static/{CHART_LIBRARY}" in sources
    assert f"/static/{MATRIX_PLUGIN}" in sources
    assert "/static/analytics/dashboard.js" in sources


@override_settings(WHITENOISE_USE_FINDERS=True, WHITENOISE_AUTOREFRESH=True)
def test_the_vendored_chart_library_and_the_pages_script_are_served(db):
    library = Client().get(f"/static/{CHART_LIBRARY}")
    script = Client().get("/static/analytics/dashboard.js")

    assert library.status_code == 200
    assert b"Chart.js v4.6.2" in b"".join(library.streaming_content)[:200]
    assert script.status_code == 200
    assert finders.find("vendor/chart.js-4.6.2/LICENSE.md")
    plugin = Client().get(f"/static/{MATRIX_PLUGIN}")
    assert plugin.status_code == 200
    assert b"chartjs-chart-matrix v3.1.0" in b"".join(plugin.streaming_content)[:200]
    assert finders.find("vendor/chartjs-chart-matrix-3.1.0/LICENSE")


def test_each_report_type_has_its_request_buttons_in_its_own_section(organization):
    response = _staff(organization, Role.ADMIN).get(DASHBOARD)

    html = response.content.decode()
    sections = re.findall(r'<section class="dashboard-section" id="section-(\w+)"', html)
    assert sections == ["usage", "equipment", "inventory", "projects", "revenue"]
    for report_type in ("usage", "inventory", "equipment", "revenue"):
        section = html.split(f'id="section-{report_type}"')[1].split("</section>")[0]
        for output_format in ("xlsx", "pdf"):
            assert (
                f'data-report-type="{report_type}" data-report-format="{output_format}"' in section
            )
        assert f'data-report-list="{report_type}"' in section
    projects = html.split('id="section-projects"')[1].split("</section>")[0]
    assert "data-report-type" not in projects
    config = _config(response)
    assert config["report_request_url"] == "/api/v1/analytics/reports/request"
    assert config["csrf_token"]


# --- a custom range --------------------------------------------------------------------------


@time_machine.travel(datetime(2025, 4, 2, 10, 0, tzinfo=UTC), tick=False)
def test_a_custom_range_comes_from_the_url_with_the_range_before_it(organization):
    response = _staff(organization, Role.ADMIN).get(
        DASHBOARD, {"range": "custom", "start": "2025-01-10", "end": "2025-02-08"}
    )

    assert response.status_code == 200
    config = _config(response)
    assert (config["start_date"], config["end_date"]) == ("2025-01-10", "2025-02-08")
    assert (config["previous_start_date"], config["previous_end_date"]) == (
        "2024-12-11",
        "2025-01-09",
    )
    html = response.content.decode()
    assert '<option value="custom" selected>Custom range</option>' in html
    assert '<input type="date" name="start" value="2025-01-10">' in html
    assert '<input type="date" name="end" value="2025-02-08">' in html


@time_machine.travel(datetime(2025, 4, 2, 10, 0, tzinfo=UTC), tick=False)
def test_a_presets_days_fill_the_date_inputs(organization):
    html = _staff(organization, Role.ADMIN).get(DASHBOARD, {"range": "last_7"}).content.decode()

    assert '<input type="date" name="start" value="2025-03-27">' in html
    assert '<input type="date" name="end" value="2025-04-02">' in html


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        ("2025-13-01", "2025-02-08", "Enter the start date as YYYY-MM-DD."),
        ("2025-01-10", "", "Enter the end date as YYYY-MM-DD."),
        ("2025-03-02", "2025-03-01", "The start date is after the end date."),
        ("2023-01-01", "2025-01-01", "A range holds at most 731 days."),
    ],
    ids=["invalid-start", "missing-end", "reversed", "too-long"],
)
def test_a_wrong_custom_range_is_explained_on_the_page(organization, start, end, message):
    query = {"range": "custom", "start": start, "end": end}

    response = _staff(organization, Role.ADMIN).get(DASHBOARD, query)

    assert response.status_code == 400
    html = response.content.decode()
    error = '<p id="range-error" class="errornote" role="alert">This range cannot be shown.'
    assert f"{error} {message}</p>" in html
    assert 'id="dashboard-config"' not in html
    assert "analytics/dashboard.js" not in html
    assert '<option value="custom" selected>Custom range</option>' in html


@pytest.mark.parametrize(
    ("start", "end"), [("2025-03-02", "2025-03-01"), ("2023-01-01", "2025-01-01")]
)
def test_the_page_refuses_a_range_as_the_api_refuses_it(organization, admin_client_api, start, end):
    page = _staff(organization, Role.ADMIN).get(
        DASHBOARD, {"range": "custom", "start": start, "end": end}
    )
    api = admin_client_api.get("/api/v1/analytics/overview", {"start_date": start, "end_date": end})

    assert (page.status_code, api.status_code) == (400, 400)
    (reason,) = api.json()["start_date"]
    assert f"This range cannot be shown. {reason}</p>" in page.content.decode()


# --- navigation ------------------------------------------------------------------------------


def _sidebar_links(html: str) -> list[str]:
    sidebar = html.split('<nav class="sticky" id="nav-sidebar"')[1].split("</nav>")[0]
    return re.findall(r'<a href="([^"]+)"', sidebar)


def test_the_dashboard_is_first_under_analytics_in_the_sidebar_and_on_the_home(organization):
    client = _staff(organization, Role.ADMIN)

    sidebar = _sidebar_links(client.get("/admin/reporting/reporttemplate/").content.decode())
    home = client.get("/admin/").content.decode()
    analytics_app = client.get("/admin/analytics/").content.decode()

    assert DASHBOARD in sidebar
    assert sidebar[sidebar.index(DASHBOARD) - 1] == "/admin/analytics/"
    assert f'<a href="{DASHBOARD}">Dashboard</a>' in home
    assert f'<a href="{DASHBOARD}" aria-current="page">Dashboard</a>' not in home
    assert f'<a href="{DASHBOARD}">Dashboard</a>' in analytics_app


def test_a_superuser_sees_the_dashboard_in_the_sidebar(organization):
    client = Client()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))

    assert DASHBOARD in _sidebar_links(client.get(DASHBOARD).content.decode())


@pytest.mark.parametrize("role", [Role.VIEWER, Role.ANALYST])
def test_staff_who_may_not_open_the_dashboard_do_not_see_it_listed(organization, role):
    client = _staff(organization, role)

    assert DASHBOARD not in client.get("/admin/").content.decode()
    assert client.get("/admin/analytics/").status_code == 404


def test_the_login_page_lists_no_dashboard(organization):
    response = Client().get("/admin/login/")

    assert response.status_code == 200
    assert DASHBOARD not in response.content.decode()
