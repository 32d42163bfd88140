"""Admin forms: JSON shown indented, and a run form generated from a parameters schema."""

import json
from typing import Any

from django import forms

INPUT_FORMATS = {"date": forms.DateField, "date-time": forms.DateTimeField}


class PrettyJSONField(forms.JSONField):
    def prepare_value(self, value: Any) -> str:
        if isinstance(value, forms.fields.InvalidJSONInput):
            return value
        return json.dumps(value, indent=2, ensure_ascii=False)


def pretty_json_widget(rows: int = 8) -> forms.Textarea:
    return forms.Textarea(attrs={"rows": rows, "cols": 90, "style": "font-family: monospace"})


def schema_form_fields(schema: dict[str, Any]) -> dict[str, forms.Field]:
    """One form field per top-level property of a JSON Schema (Draft 2020-12)."""
    required = set(schema.get("required", []))
    return {
        name: _field_for(spec if isinstance(spec, dict) else {}, name in required)
        for name, spec in schema.get("properties", {}).items()
    }


def _field_for(spec: dict[str, Any], required: bool) -> forms.Field:
    options = {
        "required": required and spec.get("type") != "boolean",
        "initial": spec.get("default"),
        "help_text": spec.get("description", ""),
        "label": spec.get("title"),
    }
    if "enum" in spec:
        return forms.TypedChoiceField(
            choices=[(v, v) for v in spec["enum"]], coerce=type(spec["enum"][0]), **options
        )
    kind = spec.get("type")
    if kind == "integer":
        return forms.IntegerField(
            min_value=spec.get("minimum"), max_value=spec.get("maximum"), **options
        )
    if kind == "number":
        return forms.FloatField(
            min_value=spec.get("minimum"), max_value=spec.get("maximum"), **options
        )
    if kind == "boolean":
        return forms.BooleanField(**options)
    if kind in ("array", "object"):
        return PrettyJSONField(widget=pretty_json_widget(4), **options)
    if spec.get("format") in INPUT_FORMATS:
        return INPUT_FORMATS[spec["format"]](**options)
    if spec.get("format") == "month":
        options["help_text"] = options["help_text"] or "01 to 12, or YYYY-MM"
    return forms.CharField(**options)


class RunReportForm(forms.Form):
    """Built per template: its parameters, then the formats to produce."""

    def __init__(self, *args, template, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields.update(schema_form_fields(template.parameters_schema))
        self.fields["output_formats"] = forms.MultipleChoiceField(
            choices=[(f, f.upper()) for f in template.output_formats],
            initial=template.output_formats,
            widget=forms.CheckboxSelectMultiple,
        )

    def parameters(self) -> dict[str, Any]:
        """Values as JSON: dates as ISO strings; empty optional fields left out."""
        values = {}
        for name, value in self.cleaned_data.items():
            if name == "output_formats" or value in (None, ""):
                continue
            values[name] = value.isoformat() if hasattr(value, "isoformat") else value
        return values
