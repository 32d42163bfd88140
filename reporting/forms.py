"""Admin forms: JSON shown indented, a run form generated from a parameters schema, and the
words the schedule form explains itself with."""

import contextlib
import json
from datetime import datetime, time, timedelta
from typing import Any

from django import forms
from django.conf import settings
from django.utils import timezone
from django.utils.functional import lazy

from config.errors import ApplicationError
from delivery.selectors import targets_for
from reporting.parameters import parameters_validate
from reporting.relative_dates import parameters_resolve
from reporting.slots import time_zone_get

INPUT_FORMATS = {"date": forms.DateField, "date-time": forms.DateTimeField}

SCHEDULE_PRESET_CHOICES = [
    ("", "None: the cron expression below"),
    ("daily", "Every day at the time below"),
    ("weekly", "Every Monday at the time below"),
    ("monthly", "On the 1st of every month at the time below"),
]
# What the schedule form sets on the schedule before the service checks it.
SCHEDULE_FORM_FIELDS = (
    "organization", "name", "template", "preset", "cron", "time_zone", "parameters",
    "output_formats", "catch_up", "enabled", "start_date", "end_date", "owner",
)  # fmt: skip
CRON_HELP = (
    "Five fields: minute hour day-of-month month day-of-week (0-6 from Sunday, or SUN-SAT), "
    "in the schedule's time zone. Examples: 0 7 1 * * (the 1st at 07:00), 30 8 * * MON-FRI "
    "(weekdays at 08:30), */15 * * * * (every 15 minutes). When both day fields are set "
    "(neither starts with *), a day matching either runs: 0 6 1 * 1 runs on the 1st and on "
    "every Monday. Filled in from the preset when one is chosen."
)


def _catch_up_help() -> str:
    return (
        "What runs when beat or the workers were down. A slot is on time until the cron's next "
        f"slot, at most {settings.REPORT_SLOT_GRACE} s after its time (REPORT_SLOT_GRACE); any "
        "earlier one was missed. Skip: only an on-time slot runs, missed slots never do. "
        "Latest: the latest slot runs once, late if need be, so after an outage there is one "
        "run, for the most recent slot. All: the missed slots run too, oldest first, at most "
        f"the latest {settings.REPORT_CATCH_UP_MAX} (REPORT_CATCH_UP_MAX). Either way the "
        "schedule then moves on past the latest slot."
    )


catch_up_help = lazy(_catch_up_help, str)()


def preset_time(cron: str) -> time | None:
    """The time of day a preset's cron runs at ("30 7 1 * *": 07:30); None for another one."""
    minute, hour, *_ = [*cron.split(), "", ""]
    if minute.isdigit() and hour.isdigit():
        return time(int(hour), int(minute))
    return None


def slot_label(slot: datetime) -> str:
    """A slot as people read it, in the zone it is given in: "Mon 2026-01-12 06:00 CET"."""
    return f"{slot:%a %Y-%m-%d %H:%M %Z}"


class PrettyJSONField(forms.JSONField):
    def prepare_value(self, value: Any) -> str:
        if isinstance(value, forms.fields.InvalidJSONInput):
            return value
        return json.dumps(value, indent=2, ensure_ascii=False)


def pretty_json_widget(rows: int = 8) -> forms.Textarea:
    return forms.Textarea(attrs={"rows": rows, "cols": 90, "style": "font-family: monospace"})


def schema_form_fields(
    schema: dict[str, Any], *, initial: dict[str, Any] | None = None
) -> dict[str, forms.Field]:
    """One form field per top-level property of a JSON Schema (Draft 2020-12); `initial`
    overrides the schema's defaults as the fields' first values."""
    required = set(schema.get("required", []))
    initial = initial or {}
    fields = {}
    for name, spec in schema.get("properties", {}).items():
        spec = spec if isinstance(spec, dict) else {}
        if name in initial:
            spec = {**spec, "default": initial[name]}
        fields[name] = _field_for(spec, name in required)
    return fields


def run_defaults(schema: dict[str, Any], *, now: datetime, time_zone: str) -> dict[str, Any]:
    """First values for a run: a month/year pair is last month (a literal default such as
    month "01", year 2025 is stale within weeks); a relative token (`{last_month_start}`)
    is resolved today in the organisation's zone; any other default stays as written."""
    properties = {
        name: spec for name, spec in schema.get("properties", {}).items() if isinstance(spec, dict)
    }
    today = now.astimezone(time_zone_get(time_zone)).date()
    last_month = (today.replace(day=1) - timedelta(days=1)).replace(day=1)
    month_like = {name for name, spec in properties.items() if _is_month(name, spec)}
    year_like = {name for name, spec in properties.items() if _is_year(name, spec)}
    defaults = {name: spec["default"] for name, spec in properties.items() if "default" in spec}
    # An unknown token stays as written: validation names it when the form is sent.
    with contextlib.suppress(ValueError):
        defaults = parameters_resolve(defaults, slot=now, time_zone=time_zone)
    for name in month_like:
        spec = properties[name]
        if spec.get("type") == "integer":
            defaults[name] = last_month.month
        elif year_like:
            defaults[name] = f"{last_month.month:02d}"
        else:
            defaults[name] = f"{last_month:%Y-%m}"
    for name in year_like:
        defaults[name] = last_month.year
    return defaults


def _is_month(name: str, spec: dict[str, Any]) -> bool:
    if spec.get("type") == "string" and spec.get("format") == "month":
        return True
    return name == "month" and spec.get("type") == "integer"


def _is_year(name: str, spec: dict[str, Any]) -> bool:
    return name == "year" and spec.get("type") == "integer"


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
    """Built per template: its parameters, the formats to produce, and where to deliver them
    (the template's organisation's targets only, none by default)."""

    def __init__(self, *args, template, **kwargs):
        super().__init__(*args, **kwargs)
        schema = template.parameters_schema
        defaults = run_defaults(
            schema, now=timezone.now(), time_zone=template.organization.time_zone
        )
        self.schema = schema
        self.fields.update(schema_form_fields(schema, initial=defaults))
        self.fields["output_formats"] = forms.MultipleChoiceField(
            choices=[(f, f.upper()) for f in template.output_formats],
            initial=template.output_formats,
            widget=forms.CheckboxSelectMultiple,
        )
        targets = targets_for(organization=template.organization).filter(enabled=True)
        targets = targets.order_by("name")
        self.fields["delivery_targets"] = forms.ModelMultipleChoiceField(
            queryset=targets,
            required=False,
            widget=forms.CheckboxSelectMultiple,
            help_text=(
                "Where to deliver the outputs once the report is ready, as a schedule does."
                if targets.exists()
                else "None yet: add one under Delivery targets to have runs delivered."
            ),
        )

    def clean(self) -> dict[str, Any]:
        """The schema's checks too (formats, patterns), so every field's error shows at once
        rather than one round of the form's checks and then another of the service's."""
        cleaned = super().clean()
        try:
            parameters_validate(schema=self.schema, values=self.parameters())
        except ApplicationError as error:
            for field, reasons in error.errors.get("parameters", {}).items():
                if field not in self.errors:
                    self.add_error(field if field in self.fields else None, reasons)
        return cleaned

    def parameters(self) -> dict[str, Any]:
        """Values as JSON: dates as ISO strings; empty optional fields left out."""
        values = {}
        for name, value in self.cleaned_data.items():
            if name in ("output_formats", "delivery_targets") or value in (None, ""):
                continue
            values[name] = value.isoformat() if hasattr(value, "isoformat") else value
        return values
