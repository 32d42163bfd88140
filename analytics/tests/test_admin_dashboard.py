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
    assert "/static/analytics/dashboard.js" in sources


@override_settings(WHITENOISE_USE_FINDERS=True, WHITENOISE_AUTOREFRESH=True)
def test_the_vendored_chart_library_and_the_pages_script_are_served(db):
    library = Client().get(f"/static/{CHART_LIBRARY}")
    script = Client().get("/static/analytics/dashboard.js")

    assert library.status_code == 200
    assert b"Chart.js v4.6.2" in b"".join(library.streaming_content)[:200]
    assert script.status_code == 200
    assert finders.find("vendor/chart.js-4.6.2/LICENSE.md")


def test_each_report_type_has_request_buttons_and_the_page_carries_a_csrf_token(organization):
    response = _staff(organization, Role.ADMIN).get(DASHBOARD)

    html = response.content.decode()
    for report_type in ("usage", "inventory", "equipment", "revenue"):
        for output_format in ("xlsx", "pdf"):
            assert f'data-report-type="{report_type}" data-report-format="{output_format}"' in html
    config = _config(response)
    assert config["report_request_url"] == "/api/v1/analytics/reports/request"
    assert config["csrf_token"]
