"""Data sources and report templates: creating, changing and checking them."""

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.template import TemplateSyntaxError
from django.utils.text import slugify

from accounts.models import Organization
from config.errors import ApplicationError, ConflictError
from reporting.datasources import get_adapter
from reporting.datasources.base import DataSourceError
from reporting.models import (
    OUTPUT_FORMATS,
    AccessAction,
    DataSource,
    ReportTemplate,
    ReportType,
    TemplateDataSource,
)
from reporting.parameters import schema_parameter_names, schema_validate
from reporting.renderers.layout_engine import layout_compile
from reporting.services.access_log import ClientInfo, access_log_record

FORMAT_ALIASES = {"excel": "xlsx", "xls": "xlsx"}
CHART_TYPES = ("bar", "line", "pie")
DATA_SOURCE_FIELDS = ("name", "description", "source_type", "query", "config")
TEMPLATE_FIELDS = (
    "name",
    "slug",
    "description",
    "report_type",
    "output_formats",
    "parameters_schema",
    "layout_name",
    "layout",
    "charts",
    "is_public",
    "run_role",
    "csv_formula_escaping",
)


def output_formats_normalize(formats: Any) -> list[str]:
    """["PDF", "excel", "csv"] -> ["pdf", "xlsx", "csv"]; unknown formats are a 400."""
    if not isinstance(formats, list | tuple) or not formats:
        raise ApplicationError(
            "Choose at least one output format.",
            errors={"output_formats": [f"A non-empty list of {', '.join(OUTPUT_FORMATS)}."]},
        )
    normalized: list[str] = []
    for value in formats:
        name = FORMAT_ALIASES.get(str(value).lower(), str(value).lower())
        if name not in OUTPUT_FORMATS:
            raise ApplicationError(
                f"Unknown output format {value!r}.",
                errors={
                    "output_formats": [f"{value!r} is not one of {', '.join(OUTPUT_FORMATS)}."]
                },
            )
        if name not in normalized:
            normalized.append(name)
    return normalized


def table_names(data_sources: Sequence[DataSource]) -> list[str]:
    """The table each data source gives: its slugified name, made unique within the template."""
    names: list[str] = []
    for source in data_sources:
        base = slugify(source.name).replace("-", "_") or f"table_{source.pk}"
        name, n = base, 2
        while name in names:
            name, n = f"{base}_{n}", n + 1
        names.append(name)
    return names


# --- data sources ----------------------------------------------------------------------------


def data_source_validate(source: DataSource) -> None:
    """Every rule a data source must meet before it is saved (ApplicationError if not)."""
    _upload_own_check(source)
    _data_source_check(source)
    clash = DataSource.objects.filter(organization=source.organization, name=source.name)
    if clash.exclude(pk=source.pk).exists():
        raise ApplicationError(
            "A data source with this name exists.", errors={"name": ["Already in use."]}
        )


def _data_source_check(source: DataSource) -> None:
    try:
        adapter = get_adapter(source.source_type)
    except KeyError:
        raise ApplicationError(
            f"Unknown source type {source.source_type!r}.",
            errors={"source_type": [f"{source.source_type!r} is not a known source type."]},
        ) from None
    try:
        adapter.validate_config(
            query=source.query, config=source.config, organization_id=source.organization_id
        )
    except DataSourceError as error:
        raise ApplicationError(str(error), errors={"config": [str(error)]}) from None


@transaction.atomic
def data_source_create(
    *, organization: Organization, created_by: AbstractBaseUser | None, **fields: Any
) -> DataSource:
    source = DataSource(organization=organization, created_by=created_by)
    return _data_source_save(source, fields)


@transaction.atomic
def data_source_update(*, data_source: DataSource, **fields: Any) -> DataSource:
    source = _data_source_save(data_source, fields)
    for template in source.templates.all():
        _template_parameters_check(template, template_data_sources(template))
    return source


def _data_source_save(source: DataSource, fields: dict[str, Any]) -> DataSource:
    upload = fields.pop("file", None)
    for name in DATA_SOURCE_FIELDS:
        if name in fields:
            setattr(source, name, fields[name])
    if upload is not None:
        data_source_attach_upload(source, upload)
    data_source_validate(source)
    source.save()
    return source


def data_source_attach_upload(source: DataSource, upload) -> None:
    """Store an uploaded file for a file source; its config then names the stored file."""
    source.file.save(upload.name, upload, save=False)
    source.config = {**(source.config or {}), "upload": source.file.name}
    source.config.pop("path", None)


def _upload_own_check(source: DataSource) -> None:
    """The config may name only this source's own upload, never another organisation's file."""
    named = (source.config or {}).get("upload") if isinstance(source.config, dict) else None
    if named is not None and named != source.file.name:
        raise ApplicationError(
            "A file source reads the file uploaded to it.",
            errors={"config": ['"upload" is set by uploading a file; it cannot be written.']},
        )


def data_source_test(
    *,
    data_source: DataSource,
    user: AbstractBaseUser | None = None,
    client: ClientInfo | None = None,
) -> tuple[bool, str]:
    """(whether the source answered, what it said). Every test is in the access log."""
    _data_source_access_record(data_source, AccessAction.TEST, user, client)
    adapter = get_adapter(data_source.source_type)
    try:
        return True, adapter.test(
            query=data_source.query,
            config=data_source.config,
            organization_id=data_source.organization_id,
        )
    except DataSourceError as error:
        return False, str(error)


def data_source_delete(*, data_source: DataSource) -> None:
    in_use = list(data_source.templates.values_list("name", flat=True))
    if in_use:
        raise ConflictError(
            "This data source is used by templates: " + ", ".join(in_use) + ".",
            errors={"templates": in_use},
        )
    data_source.delete()


def data_source_preview(
    *,
    data_source: DataSource,
    parameters: Any,
    limit: int = 50,
    user: AbstractBaseUser | None = None,
    client: ClientInfo | None = None,
) -> dict[str, Any]:
    """The first rows the source gives for these parameters; those not given are NULL. Every
    preview asked for is in the access log, whether it worked or not."""
    _data_source_access_record(data_source, AccessAction.PREVIEW, user, client)
    adapter = get_adapter(data_source.source_type)
    if not isinstance(parameters, dict):
        raise ApplicationError(
            "Parameters must be a JSON object.",
            errors={"parameters": ["Expected an object of parameter names and values."]},
        )
    used = adapter.parameter_names(query=data_source.query, config=data_source.config)
    parameters = {**dict.fromkeys(used), **parameters}
    try:
        stream = adapter.stream(
            query=data_source.query,
            config=data_source.config,
            parameters=parameters,
            organization_id=data_source.organization_id,
            batch_size=limit,
        )
        try:
            rows = list(next(stream.batches, []))[:limit]
        finally:
            stream.close()
    except DataSourceError as error:
        raise ApplicationError(
            f"The preview failed: {error}", errors={"detail": str(error)}
        ) from None
    return {"columns": [{"name": c.name, "type": c.type} for c in stream.columns], "rows": rows}


def _data_source_access_record(
    data_source: DataSource, action: str, user: AbstractBaseUser | None, client: ClientInfo | None
) -> None:
    access_log_record(
        organization=data_source.organization,
        user=user,
        action=action,
        subject=f"data source {data_source.name}",
        client=client,
    )


# --- templates -------------------------------------------------------------------------------


@transaction.atomic
def template_create(
    *,
    organization: Organization,
    created_by: AbstractBaseUser | None,
    data_sources: Sequence[DataSource],
    **fields: Any,
) -> ReportTemplate:
    template = ReportTemplate(organization=organization, created_by=created_by)
    return _template_save(template, fields, data_sources)


@transaction.atomic
def template_update(
    *, template: ReportTemplate, data_sources: Sequence[DataSource] | None = None, **fields: Any
) -> ReportTemplate:
    return _template_save(template, fields, data_sources)


def _template_save(
    template: ReportTemplate, fields: dict[str, Any], data_sources: Sequence[DataSource] | None
) -> ReportTemplate:
    for name in TEMPLATE_FIELDS:
        if name in fields and fields[name] is not None:
            setattr(template, name, fields[name])
    sources = list(data_sources) if data_sources is not None else template_data_sources(template)
    template_validate(template, sources)
    template.save()
    if data_sources is not None:
        TemplateDataSource.objects.filter(template=template).delete()
        TemplateDataSource.objects.bulk_create(
            TemplateDataSource(template=template, data_source=source, position=position)
            for position, source in enumerate(sources)
        )
    return template


def template_validate(template: ReportTemplate, sources: Sequence[DataSource]) -> None:
    """Every rule a template must meet before it is saved; normalises slug and formats."""
    template.slug = _template_slug(template)
    if template.report_type not in ReportType.values:
        raise ApplicationError(
            "Unknown report type.",
            errors={
                "report_type": [f"{template.report_type!r} is not one of {ReportType.values}."]
            },
        )
    template.output_formats = output_formats_normalize(template.output_formats)
    schema_validate(schema=template.parameters_schema)
    _template_sources_check(template, sources)
    _template_parameters_check(template, sources)
    _template_charts_check(template.charts, table_names(sources))
    _template_layout_check(template)
    _template_slug_check(template)


def template_data_sources(template: ReportTemplate) -> list[DataSource]:
    if template.pk is None:
        return []
    return [link.data_source for link in template.sources.select_related("data_source")]


def _template_sources_check(template: ReportTemplate, sources: Sequence[DataSource]) -> None:
    foreign = [s.pk for s in sources if s.organization_id != template.organization_id]
    if foreign:
        raise ApplicationError(
            "Unknown data sources.",
            errors={
                "data_source_ids": [f'Invalid pk "{pk}" - object does not exist.' for pk in foreign]
            },
        )


def _template_parameters_check(template: ReportTemplate, sources: Sequence[DataSource]) -> None:
    defined = schema_parameter_names(schema=template.parameters_schema)
    problems = []
    for source in sources:
        used = get_adapter(source.source_type).parameter_names(
            query=source.query, config=source.config
        )
        problems += [
            f"The data source “{source.name}” uses the parameter “{name}”, which the schema "
            "does not define."
            for name in sorted(used - defined)
        ]
    if problems:
        raise ApplicationError(
            "The parameters schema lacks parameters its data sources use.",
            errors={"parameters_schema": problems},
        )


def _template_charts_check(charts: Any, tables: list[str]) -> None:
    def refuse(reason: str):
        raise ApplicationError("The charts are not valid.", errors={"charts": [reason]})

    if not isinstance(charts, list):
        refuse("A list of {table, type, x, y, title}.")
    for n, chart in enumerate(charts):
        if not isinstance(chart, dict):
            refuse(f"Chart {n + 1}: an object with table, type, x, y and title.")
        if chart.get("table") not in tables:
            refuse(f"Chart {n + 1}: table {chart.get('table')!r} is not one of {tables}.")
        if chart.get("type") not in CHART_TYPES:
            refuse(f"Chart {n + 1}: type must be one of {', '.join(CHART_TYPES)}.")
        y = chart.get("y")
        if not isinstance(chart.get("x"), str) or not isinstance(y, list) or not y:
            refuse(f"Chart {n + 1}: x is a column name and y a non-empty list of column names.")
        unknown = sorted(set(chart) - {"table", "type", "x", "y", "title"})
        if unknown:
            refuse(f"Chart {n + 1}: unknown keys {unknown}.")


def layout_path(layout_name: str) -> Path:
    """A layout file inside REPORT_TEMPLATE_DIR; names that leave that folder are refused."""
    folder = Path(settings.REPORT_TEMPLATE_DIR).resolve()
    path = (folder / layout_name).resolve()
    if not path.is_relative_to(folder) or not path.is_file():
        raise ApplicationError(
            "Unknown layout.",
            errors={
                "layout_name": [f"No layout file {layout_name!r} in the report layouts folder."]
            },
        )
    return path


def layout_source(template: ReportTemplate) -> str | None:
    if template.layout:
        return template.layout
    if template.layout_name:
        return layout_path(template.layout_name).read_text(encoding="utf-8")
    return None


def _template_layout_check(template: ReportTemplate) -> None:
    source = layout_source(template)
    if source is None:
        return
    try:
        layout_compile(source)
    except TemplateSyntaxError as error:
        field = "layout" if template.layout else "layout_name"
        raise ApplicationError(
            "The layout is not a valid template.", errors={field: [str(error)]}
        ) from None


def _template_slug(template: ReportTemplate) -> str:
    """The slug given (the API and the admin check its length), or one made from the name and
    cut to fit: a name may be twice as long as a slug."""
    if template.slug:
        return slugify(template.slug)
    max_length = ReportTemplate._meta.get_field("slug").max_length
    return slugify(template.name)[:max_length].rstrip("-")


def _template_slug_check(template: ReportTemplate) -> None:
    if not template.slug:
        raise ApplicationError("A name is needed.", errors={"name": ["This field is required."]})
    clash = ReportTemplate.objects.filter(organization=template.organization, slug=template.slug)
    if clash.exclude(pk=template.pk).exists():
        raise ApplicationError(
            "A template with this slug exists.", errors={"slug": [f"{template.slug!r} is in use."]}
        )


@transaction.atomic
def template_delete(
    *, template: ReportTemplate, user: AbstractBaseUser | None, client: ClientInfo | None = None
) -> None:
    runs = template.executions.count()
    if runs:
        raise ApplicationError(
            f"This template has {runs} executions, whose history is kept, so it cannot be "
            "deleted. Make it private instead.",
            errors={"template": ["Has executions."]},
        )
    schedules = list(template.schedules.values_list("name", flat=True))
    if schedules:
        raise ConflictError(
            "This template is run by schedules: " + ", ".join(schedules) + ".",
            errors={"schedules": schedules},
        )
    access_log_record(
        organization=template.organization,
        user=user,
        action=AccessAction.DELETE,
        template=template,
        client=client,
    )
    template.delete()
