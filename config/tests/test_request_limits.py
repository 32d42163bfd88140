"""Request bodies over the size limit get a JSON 413, JSON nested too deep a JSON 400, on every
endpoint, before any view or serializer sees them."""

import json

import pytest

from config.request_limits import json_depth_exceeds
from events.models import UsageEvent

BI = "/api/v1/business-intelligence"


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize("depth", [33, 5_000, 100_000])
def test_json_nested_deeper_than_the_limit_is_a_400_naming_the_reason(admin_client_api, depth):
    body = '{"name": "Deep", "parameters": ' + nested(depth - 1) + "}"
    response = admin_client_api.post(
        f"{BI}/report-templates", body, content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json() == {
        "detail": "The JSON body is nested deeper than 32 levels.",
        "body": ["At most 32 levels of nested objects and arrays."],
    }


def test_json_at_the_depth_limit_reaches_the_view(admin_client_api):
    body = '{"name": "Deep", "output_formats": ["csv"], "charts": ' + nested(31) + "}"
    response = admin_client_api.post(
        f"{BI}/report-templates", body, content_type="application/json"
    )
    assert response.status_code == 400
    assert "body" not in response.json()  # refused by the template's rules, not the parser


def test_the_depth_limit_is_a_setting(admin_client_api, settings):
    settings.REQUEST_MAX_JSON_DEPTH = 4
    response = admin_client_api.post(f"{BI}/report-templates", {"charts": [[[[1]]]]}, format="json")
    assert response.status_code == 400
    assert response.json()["detail"] == "The JSON body is nested deeper than 4 levels."


def test_a_body_over_the_size_limit_is_a_json_413(admin_client_api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = json.dumps({"name": "x" * 1000, "output_formats": ["csv"]})
    response = admin_client_api.post(
        f"{BI}/report-templates", body, content_type="application/json"
    )
    assert response.status_code == 413
    assert response.json() == {
        "detail": "The request body is larger than 1,000 bytes.",
        "body": ["At most 1,000 bytes."],
    }


def test_a_20_mb_body_is_a_json_413_with_the_default_limit(admin_client_api):
    body = json.dumps({"events": [{"event_type": "x" * 1000}] * 20_000})
    response = admin_client_api.post(
        "/api/v1/analytics/events", body, content_type="application/json"
    )
    assert response.status_code == 413
    assert response.json()["detail"] == "The request body is larger than 10,485,760 bytes."


def test_an_upload_has_its_own_larger_limit(admin_client_api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    settings.REQUEST_MAX_UPLOAD_SIZE = 5000
    small = admin_client_api.post(
        f"{BI}/data-sources", {"name": "a", "source_type": "file", "query": "x" * 2000}
    )
    assert small.status_code != 413
    large = admin_client_api.post(
        f"{BI}/data-sources", {"name": "a", "source_type": "file", "query": "x" * 6000}
    )
    assert large.status_code == 413
    assert large.json()["body"] == ["At most 5,000 bytes."]


def test_the_admin_gets_the_json_413_too(client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = f"username={'x' * 2000}&password=x"
    response = client.post("/admin/login/", body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 413
    assert response["Content-Type"] == "application/json"


@pytest.mark.parametrize(
    ("document", "limit", "exceeds"),
    [
        (1, 0, False),
        ([], 0, True),
        ([], 1, False),
        ({"a": [1, {"b": []}]}, 4, False),
        ({"a": [1, {"b": []}]}, 3, True),
        ([1, "x", None, [[]]], 2, True),
    ],
)
def test_depth_counts_nested_objects_and_arrays(document, limit, exceeds):
    assert json_depth_exceeds(document, limit) is exceeds


@pytest.mark.parametrize(
    "body",
    [
        '{"name": "N\\u0000", "output_formats": ["csv"]}',
        '{"name": "N", "output_formats": ["csv"], "charts": [{"title\\u0000": 1}]}',
    ],
)
def test_a_nul_character_in_json_is_a_400_before_the_database_sees_it(admin_client_api, body):
    response = admin_client_api.post(
        f"{BI}/report-templates", body, content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json() == {
        "detail": "The JSON body has a NUL character (\\u0000), which cannot be stored.",
        "body": ["No \\u0000 in strings or keys."],
    }


def test_an_escaped_backslash_before_u0000_is_text_not_a_nul(admin_client_api):
    body = '{"name": "Path C:\\\\u0000", "output_formats": ["csv"]}'
    response = admin_client_api.post(
        f"{BI}/report-templates", body, content_type="application/json"
    )
    assert response.status_code == 201, response.json()
    assert response.json()["name"] == "Path C:\\u0000"


@pytest.mark.parametrize(
    "value",
    ["1e400", "-1e400", '"\\ud800"', '"\\udc00 alone"', "NaN", "Infinity"],
)
def test_json_no_database_can_store_is_a_parse_error_not_a_500(viewer_client, value):
    # A number beyond a double, a lone surrogate: the json module read them, then PostgreSQL
    # refused the metadata and the request ended in a 500.
    body = '{"event_type": "login", "event_category": "authentication", "metadata": {"v": %s}}'
    response = viewer_client.post(
        "/api/v1/analytics/events", body % value, content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["detail"].startswith("JSON parse error - ")
    assert not UsageEvent.objects.exists()


def test_a_body_in_another_charset_is_read_in_it(viewer_client):
    body = '{"event_type": "login", "event_category": "caf\u00e9"}'.encode("latin-1")
    response = viewer_client.post(
        "/api/v1/analytics/events", body, content_type="application/json; charset=latin-1"
    )
    assert response.status_code == 201, response.json()
    assert UsageEvent.objects.get().event_category == "caf\u00e9"
