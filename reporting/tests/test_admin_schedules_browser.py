"""The demo's schedule page and the admin home in a real browser (Playwright, Debian's Chromium)."""

import re

import pytest

from accounts.models import Organization
from delivery.samples import sample_delivery_target_load
from reporting.services.samples import sample_reports_load, sample_schedules_load

pytestmark = pytest.mark.django_db(databases=["default", "reporting"], transaction=True)

BILLING = "Monthly billing summary on the 1st at 07:00"


@pytest.fixture
def demo_schedules(demo_login, delivery_root):
    organization = Organization.objects.get(slug="demo")
    sample_reports_load(organization=organization)
    target, _ = sample_delivery_target_load(organization=organization)
    return sample_schedules_load(organization=organization, delivery_targets=[target])


def test_the_schedule_page_shows_five_runs_in_the_schedules_zone(staff_browser, demo_schedules):
    page = staff_browser.page
    page.goto("/admin/")  # the admin home lists the next runs; the schedule's name opens it
    page.locator("#home-next-runs").get_by_role("link", name=BILLING).click()
    page.wait_for_url("**/admin/reporting/reportschedule/*/change/")
    upcoming = page.locator(".field-upcoming")
    assert "In Europe/Berlin:" in upcoming.inner_text()
    runs = upcoming.locator("li").all_inner_texts()
    assert len(runs) == 5
    assert all(re.fullmatch(r"\w{3} \d{4}-\d{2}-01 07:00 CES?T", run) for run in runs), runs
    assert "At 07:00, on day 1 of the month" in page.locator(".field-description").inner_text()
    chosen = page.locator("#id_delivery_targets_to option").all_inner_texts()
    assert chosen == ["Demo folder (storage)"]
    staff_browser.screenshot("schedule")
    assert staff_browser.problems == []
