import pytest

from config.errors import ApplicationError
from reporting.parameters import parameters_validate, schema_validate

BILLING_SCHEMA = {
    "type": "object",
    "properties": {
        "month": {"type": "string", "format": "month"},
        "year": {"type": "integer", "minimum": 2000},
        "currency": {"type": "string", "enum": ["EUR", "USD"], "default": "EUR"},
        "since": {"type": "string", "format": "date"},
    },
    "required": ["month", "year"],
}


def errors_for(values) -> dict:
    with pytest.raises(ApplicationError) as caught:
        parameters_validate(schema=BILLING_SCHEMA, values=values)
    return caught.value.errors["parameters"]


@pytest.mark.parametrize("month", ["01", "12", "2025-03"])
def test_month_format_accepts_a_month_number_or_year_month(month):
    values = parameters_validate(schema=BILLING_SCHEMA, values={"month": month, "year": 2025})
    assert values["month"] == month


@pytest.mark.parametrize("month", ["13", "00", "3", "2025-13", "March"])
def test_month_format_refuses_anything_else(month):
    assert errors_for({"month": month, "year": 2025}) == {"month": [f"'{month}' is not a 'month'"]}


def test_defaults_are_filled_in():
    values = parameters_validate(schema=BILLING_SCHEMA, values={"month": "03", "year": 2025})
    assert values == {"month": "03", "year": 2025, "currency": "EUR"}


def test_each_failing_field_gets_its_own_entry():
    assert errors_for({"month": "03", "year": 1999, "since": "yesterday"}) == {
        "year": ["1999 is less than the minimum of 2000"],
        "since": ["'yesterday' is not a 'date'"],
    }


def test_missing_required_parameters_are_named():
    assert errors_for({}) == {
        "month": ["'month' is a required property"],
        "year": ["'year' is a required property"],
    }


def test_a_broken_schema_is_refused_with_the_reason():
    with pytest.raises(ApplicationError) as caught:
        schema_validate(schema={"type": "object", "properties": {"year": {"type": "integr"}}})
    assert caught.value.errors["parameters_schema"][0].startswith("properties/year/type:")
