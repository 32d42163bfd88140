"""Signing in to the admin in a real browser (Chromium through Playwright, on a live server)."""

from playwright.sync_api import expect

# The apps a member of an organisation works with, as the admin home lists them.
ORGANISATION_APPS = ["Organisations and people", "Reporting", "Delivery", "Analytics"]


def test_demo_user_signs_in_and_sees_the_organisations_apps(staff_browser):
    # staff_browser has signed in as the demo user through the login form.
    browser, page = staff_browser, staff_browser.page

    assert page.url == f"{browser.base_url}/admin/"
    expect(page.locator("#site-name")).to_have_text("Reporting Hub")
    captions = [c.strip() for c in page.locator("#content-main caption").all_text_contents()]
    assert all(app in captions for app in ORGANISATION_APPS), captions
    expect(page.get_by_role("link", name="Report templates")).to_be_visible()
    # The admin's own stylesheet arrived (static files are served): the header is coloured.
    header_colour = page.eval_on_selector("#header", "e => getComputedStyle(e).backgroundColor")
    assert header_colour not in ("", "rgba(0, 0, 0, 0)", "transparent")
    browser.screenshot()
    assert browser.problems == []


def test_viewer_cannot_sign_in_to_the_admin(browser, viewer):
    page = browser.page

    browser.admin_login(username=viewer.username, password="secret-password")

    expect(page.locator(".errornote")).to_contain_text("staff account")
    page.goto("/admin/reporting/reporttemplate/")
    assert page.url.startswith(f"{browser.base_url}/admin/login/")
    expect(page.locator("#id_username")).to_be_visible()
