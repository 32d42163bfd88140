"""The published schema lists the errors every operation can answer, in the shape the API's
exception handler gives them, and the shapes of the answers that used to differ from it."""

import pytest
from drf_spectacular.generators import SchemaGenerator

ERROR = {"$ref": "#/components/schemas/Error"}
BI = "/api/v1/business-intelligence"


@pytest.fixture(scope="module")
def schema():
    return SchemaGenerator().get_schema(request=None, public=True)


def operations(schema):
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            yield path, method, operation


def test_every_operation_declares_its_error_responses(schema):
    for path, method, operation in operations(schema):
        for code in ("400", "401", "403", "404", "429"):
            content = operation["responses"][code]["content"]["application/json"]
            assert content["schema"] == ERROR, (path, method, code)


def test_writes_declare_conflict_and_bodies_declare_size_and_type(schema):
    create = schema["paths"][f"{BI}/report-templates/"]["post"]["responses"]
    assert {"409", "413", "415"} <= set(create)
    listing = schema["paths"][f"{BI}/report-templates/"]["get"]["responses"]
    assert not {"409", "413", "415"} & set(listing)
    assert "Retry-After" in listing["429"]["headers"]


def test_every_operation_declares_the_outage_answer_with_its_service_and_retry_after(schema):
    for path, method, operation in operations(schema):
        outage = operation["responses"]["503"]
        content = outage["content"]["application/json"]
        assert content["schema"] == {"$ref": "#/components/schemas/Outage"}, (path, method)
        assert "Retry-After" in outage["headers"], (path, method)
    service = schema["components"]["schemas"]["Outage"]["properties"]["service"]
    assert service["enum"] == ["database", "cache", "broker", "storage"]


def test_the_error_shape_has_a_detail_and_the_fields(schema):
    error = schema["components"]["schemas"]["Error"]
    assert error["properties"] == {"detail": {"type": "string"}}
    assert error["additionalProperties"] is True


def test_responses_a_view_declares_itself_are_kept(schema):
    download = schema["paths"]["/api/v1/analytics/reports/{id}/download/"]["get"]["responses"]
    assert {"200", "409", "410", "404"} <= set(download)
    assert download["410"]["description"] != "The object's state does not allow this now."


def test_me_and_connections_are_one_object_not_a_list(schema):
    for path in ("/api/v1/me/", f"{BI}/connections/"):
        body = schema["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]
        assert "$ref" in body["schema"], path


def test_fields_that_can_be_empty_are_nullable(schema):
    components = schema["components"]["schemas"]
    assert components["ReportExecution"]["properties"]["duration_seconds"]["nullable"] is True
    assert components["ReportExecution"]["properties"]["requested_by"]["nullable"] is True
    assert components["ReportSchedule"]["properties"]["owner"]["nullable"] is True
    assert components["ReportAccessLog"]["properties"]["user"]["nullable"] is True
