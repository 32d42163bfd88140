from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter

from accounts.permissions import ORGANIZATION_HEADER, HasOrganizationRole
from config.outages import OUTAGE_ERRORS

ORGANIZATION_PARAMETER = OpenApiParameter(
    ORGANIZATION_HEADER,
    location=OpenApiParameter.HEADER,
    required=False,
    description="Slug or id of the organisation to act in; needed when you belong to several.",
)


class OrganizationAutoSchema(AutoSchema):
    """Documents the X-Organization header on every operation scoped to an organisation."""

    def get_override_parameters(self):
        parameters = super().get_override_parameters()
        if any(isinstance(p, HasOrganizationRole) for p in self.view.get_permissions()):
            parameters = [*parameters, ORGANIZATION_PARAMETER]
        return parameters


class SingleObjectSchema(OrganizationAutoSchema):
    """For a plain ViewSet whose `list` answers one object (/me/, connections): drf-spectacular
    takes every `list` action for an array, and offers no public switch for it."""

    def _is_list_view(self, serializer=None) -> bool:
        return False


# The body config.api_errors.api_exception_handler (and config.request_limits) answer with.
ERROR_SCHEMA = {
    "type": "object",
    "description": "`detail` says what went wrong; a 400 also names each field the request got "
    "wrong with its reasons (`{field: [reason, ...]}`, nested for nested fields).",
    "properties": {"detail": {"type": "string"}},
    "additionalProperties": True,
}
ERROR_RESPONSES = {
    "400": "Bad input: the fields and the reasons.",
    "401": "No valid credentials: a session, or `Authorization: Bearer <JWT>`.",
    "403": "The caller's role does not allow this, or the caller is not a member of the "
    "organisation named.",
    "404": "No such object in the organisation the request acts in (or no such page).",
    "429": "Too many requests; `Retry-After` says in how many seconds to try again.",
    "503": "The database, the cache or the broker is unavailable; `service` names it, "
    "`Retry-After` says in how many seconds to try again.",
}
# The body of config.outages' 503.
OUTAGE_SCHEMA = {
    "type": "object",
    "properties": {
        "detail": {"type": "string"},
        "service": {"type": "string", "enum": list(OUTAGE_ERRORS)},
    },
    "required": ["detail", "service"],
}
RETRY_AFTER_CODES = ("429", "503")
WRITE_ERROR_RESPONSES = {"409": "The object's state does not allow this now."}
BODY_ERROR_RESPONSES = {
    "413": "The request body is larger than the limit.",
    "415": "The request body's content type is not accepted.",
}
WRITE_METHODS = ("post", "put", "patch", "delete")


def error_responses_declare(result, generator, request, public):
    """drf-spectacular postprocessing hook: every operation lists the errors it can answer."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas.update(Error=ERROR_SCHEMA, Outage=OUTAGE_SCHEMA)
    for operations in result.get("paths", {}).values():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            for code, description in _error_codes(method, operation).items():
                responses.setdefault(code, _error_response(code, description))
    return result


def _error_codes(method: str, operation: dict) -> dict[str, str]:
    codes = dict(ERROR_RESPONSES)
    if method in WRITE_METHODS:
        codes.update(WRITE_ERROR_RESPONSES)
    if "requestBody" in operation:
        codes.update(BODY_ERROR_RESPONSES)
    return codes


def _error_response(code: str, description: str) -> dict:
    schema = "Outage" if code == "503" else "Error"
    response = {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
    }
    if code in RETRY_AFTER_CODES:
        response["headers"] = {"Retry-After": {"schema": {"type": "integer"}}}
    return response
