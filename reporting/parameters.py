"""Report parameters: JSON Schema (Draft 2020-12) with format checks, defaults filled in.

Errors come back per field, as the API answers them: {"year": ["1999 is less than the minimum
of 2000"]}. Besides the standard formats, `month` accepts "01"…"12" and "YYYY-MM".
"""

import copy
import re
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import SchemaError

from config.errors import ApplicationError

_MONTH = re.compile(r"^(\d{4}-)?(0[1-9]|1[0-2])$")

format_checker = FormatChecker()


@format_checker.checks("month")
def _is_month(value: object) -> bool:
    return not isinstance(value, str) or bool(_MONTH.match(value))


def schema_validate(*, schema: Any) -> None:
    """A broken schema is the template author's error, found when the template is saved."""
    if not isinstance(schema, dict):
        raise ApplicationError(
            "The parameters schema must be a JSON object.",
            errors={"parameters_schema": ["Expected a JSON Schema object."]},
        )
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as error:
        where = "/".join(str(part) for part in error.path) or "(root)"
        raise ApplicationError(
            "The parameters schema is not a valid JSON Schema.",
            errors={"parameters_schema": [f"{where}: {error.message}"]},
        ) from None


def schema_parameter_names(*, schema: dict[str, Any]) -> set[str]:
    return set(schema.get("properties", {}))


def parameters_validate(*, schema: dict[str, Any], values: Any) -> dict[str, Any]:
    """The values, validated against the schema, with the schema's defaults filled in."""
    if not isinstance(values, dict):
        raise ApplicationError(
            "Parameters must be a JSON object.",
            errors={"parameters": {"": ["Expected an object."]}},
        )
    values = _with_defaults(schema, values)
    validator = Draft202012Validator(schema, format_checker=format_checker)
    errors: dict[str, list[str]] = {}
    for error in sorted(validator.iter_errors(values), key=lambda e: list(e.path)):
        errors.setdefault(_field_of(error), []).append(error.message)
    if errors:
        raise ApplicationError("The parameters are not valid.", errors={"parameters": errors})
    return values


def _with_defaults(schema: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    filled = dict(values)
    for name, spec in schema.get("properties", {}).items():
        if name not in filled and isinstance(spec, dict) and "default" in spec:
            filled[name] = copy.deepcopy(spec["default"])
    return filled


def _field_of(error) -> str:
    if error.validator == "required":
        missing = re.match(r"'([^']+)' is a required property", error.message)
        if missing:
            return ".".join([*map(str, error.path), missing.group(1)])
    return ".".join(str(part) for part in error.path) or "parameters"
