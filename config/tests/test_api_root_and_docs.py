"""What a newcomer reaches first: / , the API roots, and the API docs with no internet."""

import re
from urllib.parse import urlsplit

import pytest
from django.urls import Resolver404, resolve

from config.urls import api_router

ROOT = "/api/v1/"
# Attributes that make a browser fetch something: src, href, and url(...) in inline styles.
FETCHED = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']|url\(\s*["']?([^"')]+)""")


def _links(client, url: str) -> dict[str, str]:
    response = client.get(url, HTTP_ACCEPT="application/json")
    assert response.status_code == 200, url
    return {name: urlsplit(link).path for name, link in response.json().items()}


def test_site_root_redirects_to_the_admin(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/admin/"


@pytest.mark.django_db
def test_api_root_lists_each_group_and_each_group_lists_its_endpoints(client):
    root = _links(client, ROOT)
    assert root == {
        "me": "/api/v1/me",
        "organizations": "/api/v1/organizations",
        "business-intelligence": "/api/v1/business-intelligence",
        "analytics": "/api/v1/analytics",
        "auth": "/api/v1/auth",
    }
    business_intelligence = _links(client, "/api/v1/business-intelligence/")
    assert business_intelligence["report-templates"] == (
        "/api/v1/business-intelligence/report-templates"
    )
    assert business_intelligence["deliveries"] == "/api/v1/business-intelligence/deliveries"
    analytics = _links(client, "/api/v1/analytics/")
    assert analytics["dashboard"] == "/api/v1/analytics/dashboard"
    assert analytics["events"] == "/api/v1/analytics/events"
    assert analytics["reports"] == "/api/v1/analytics/reports"
    assert _links(client, "/api/v1/auth/")["token"] == "/api/v1/auth/token/"


@pytest.mark.django_db
def test_every_registered_viewset_is_reachable_from_the_api_root(client):
    listed = set()
    for link in _links(client, ROOT).values():
        is_group = resolve(link).url_name.startswith("api-root-")
        listed.update(_links(client, link).values() if is_group else [link])
    for path in listed:
        try:
            resolve(path)
        except Resolver404:
            pytest.fail(f"{path} is listed but answers 404")
    reached = {getattr(resolve(path).func, "cls", None) for path in listed}
    assert {viewset for _, viewset, _ in api_router.registry} <= reached


@pytest.mark.django_db
@pytest.mark.parametrize("page", ["/api/docs/", "/api/redoc/"])
def test_api_docs_load_only_this_services_static_files(client, settings, page):
    # As under `make run` (DEBUG on): WhiteNoise serves static files from the finders.
    settings.WHITENOISE_USE_FINDERS = True
    response = client.get(page)
    assert response.status_code == 200
    html = response.content.decode()
    assets = [src or url for src, url in FETCHED.findall(html)]
    assert assets, "the page loads no scripts"
    outside = [asset for asset in assets if not asset.startswith("/static/")]
    assert outside == [], "the docs load something from outside this service"
    for asset in assets:
        served = client.get(asset)
        assert served.status_code == 200, asset
        assert b"".join(served.streaming_content), asset
