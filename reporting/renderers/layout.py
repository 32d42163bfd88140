"""What the HTML and PDF renderers share: the layout's context, its rendering, the URL fetcher.

A layout is a Django template (the document's own text, or `reports/default.html`), rendered by
the restricted engine of `layout_engine` and cleaned by `sanitize`. Its
context holds each table with at most `pdf_max_rows` rows, already formatted as text, so a
layout never needs filters to show a value and never reads more of a spool than it shows.
"""

import base64
import json
import mimetypes
import re
from collections.abc import Callable, Collection
from contextlib import closing
from dataclasses import dataclass, field
from datetime import date, datetime
from itertools import islice
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from django.template import Context
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe

from reporting.renderers.charts import chart_svg
from reporting.renderers.layout_engine import layout_engine, layout_template
from reporting.renderers.sanitize import html_clean
from reporting.tables import Branding, Chart, Column, ReportDocument, SpooledTable

# The project's static/ folder, found from this package so renderers never read settings.
STATIC_ROOT = (Path(__file__).resolve().parents[2] / "static").resolve()
DEFAULT_LAYOUT = "reports/default.html"
REPORT_CSS = STATIC_ROOT / "reports" / "report.css"
DEFAULT_COLOUR = Branding.__dataclass_fields__["colour"].default
# A colour goes into a stylesheet, so only plain forms pass: #rgb…#rrggbbaa or a keyword.
COLOUR = re.compile(r"#[0-9a-fA-F]{3,8}|[a-zA-Z]{3,20}")
NUMERIC_TYPES = {"integer", "number"}
# Column widths follow the longest text shown, within these bounds (in characters). Cells
# whose text may not fit are clipped with an ellipsis: those of a column cut to the maximum,
# or all of a table wider than an A4 page holds at the default layout's font size. Clipping
# only where needed matters: it makes WeasyPrint's PDF output about 30% slower.
MIN_COLUMN_CHARS, MAX_COLUMN_CHARS = 4, 40
PAGE_WIDTH_CHARS = 90
SAMPLE_ROWS = 2  # of a table drawn apart: odd and even rows, for their look


def static_path(path: str) -> Path | None:
    """The file `path` names (a relative one from static/) if it is inside static/, with
    symbolic links resolved; else None."""
    resolved = (STATIC_ROOT / path).resolve()
    return resolved if resolved.is_relative_to(STATIC_ROOT) and resolved.is_file() else None


def logo_src(logo: str) -> str:
    """A data: URI for the logo, so the HTML output stands alone; "" when it is not allowed.

    `logo` is a data: URI or a path under static/, written "reports/logo.png",
    "static/reports/logo.png" or "/static/reports/logo.png".
    """
    if logo.startswith("data:"):
        return logo
    path = static_path(logo.lstrip("/").removeprefix("static/")) if logo else None
    if path is None:
        return ""
    content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return f"data:{content_type};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def css_string(text: str) -> SafeString:
    """`text` as a CSS string literal: every character but letters, digits and spaces escaped."""
    escaped = "".join(
        char if char.isalnum() or char == " " else f"\\{ord(char):x} " for char in text
    )
    return mark_safe(f'"{escaped}"')


@dataclass
class ColumnView:
    name: str
    type: str
    width: float = 0.0  # percent of the table's width
    clip: bool = False  # its text may be wider than the column

    @property
    def numeric(self) -> bool:
        return self.type in NUMERIC_TYPES


@dataclass
class ChartView:
    title: str
    svg: SafeString


@dataclass
class TableView:
    """One table as a layout sees it: at most `pdf_max_rows` rows, as text."""

    html_id: str  # "table-1", "table-2"…: for the layout's per-column style rules
    name: str
    title: str
    columns: list[ColumnView]
    rows: list[list[str]]  # of a table drawn apart, only its first SAMPLE_ROWS
    row_count: int  # every row of the table, as the CSV and XLSX outputs hold them
    shown: int  # the rows the PDF or HTML shows
    charts: list[ChartView] = field(default_factory=list)
    # Its rows are drawn outside the layout (the PDF's fast path): the layout lays out the
    # header and the sample rows, which give the drawing its geometry and look.
    drawn_apart: bool = False

    @property
    def cut(self) -> bool:
        return self.row_count > self.shown

    @property
    def cut_notice(self) -> str:
        if not self.cut:
            return ""
        return (
            f"Showing the first {self.shown:,} of {self.row_count:,} rows; "
            "the CSV and XLSX outputs hold every row."
        )


def render_layout(document: ReportDocument, *, drawn_apart: Collection[str] = ()) -> str:
    """The document's layout rendered to HTML, times shown in the document's time zone, by the
    restricted layout engine and then sanitized (`sanitize.html_clean`). The tables named in
    `drawn_apart` hold only their first SAMPLE_ROWS rows (see `TableView.drawn_apart`)."""
    if document.layout is None:
        template = layout_engine().get_template(DEFAULT_LAYOUT)
    else:
        template = layout_template(document.layout)
    context = Context(layout_context(document, drawn_apart=drawn_apart), autoescape=True)
    # `{{ generated_at }}` in a layout converts to the active zone: make it the report's.
    with timezone.override(document.time_zone):
        return html_clean(template.render(context))


def layout_context(
    document: ReportDocument, *, drawn_apart: Collection[str] = ()
) -> dict[str, Any]:
    names = {table.name for table in document.tables}
    for chart in document.charts:
        if chart.table not in names:
            raise ValueError(f"Chart {chart.title!r} names table {chart.table!r}, not in report.")
    tables = [
        _table_view(
            table, document, html_id=f"table-{number}", drawn_apart=table.name in drawn_apart
        )
        for number, table in enumerate(document.tables, start=1)
    ]
    local_time = document.generated_at.astimezone(document.time_zone)
    colour = document.branding.colour
    # Only the values a layout shows: no document object, whose text would name spool paths.
    return {
        "title": document.title,
        "description": document.description,
        "branding": document.branding,
        "brand_colour": colour if COLOUR.fullmatch(colour) else DEFAULT_COLOUR,
        "logo_src": logo_src(document.branding.logo),
        "footer_css": css_string(document.branding.footer_text),
        "parameters": [
            (name, _parameter_text(value)) for name, value in document.parameters.items()
        ],
        "generated_at": document.generated_at,
        "generated_at_text": f"{local_time:%Y-%m-%d %H:%M} ({document.time_zone.key})",
        "tables": tables,
        "charts": [chart for table in tables for chart in table.charts],
        "report_css": mark_safe(REPORT_CSS.read_text(encoding="utf-8")),
    }


def _table_view(
    table: SpooledTable, document: ReportDocument, *, html_id: str, drawn_apart: bool
) -> TableView:
    """Reads at most `pdf_max_rows` rows once: the cells' text (kept for the first SAMPLE_ROWS
    only when the table is drawn apart), their widths, and the charts' values."""
    charts = [chart for chart in document.charts if chart.table == table.name]
    names = [column.name for column in table.columns]
    for chart in charts:
        for name in (chart.x, *chart.y):
            if name not in names:
                raise ValueError(f"Chart {chart.title!r} names column {name!r}, not in its table.")
    charted = {names.index(name) for chart in charts for name in (chart.x, *chart.y)}
    values: dict[int, list[Any]] = {index: [] for index in charted}
    labels: dict[int, list[str]] = {names.index(chart.x): [] for chart in charts}
    formats = [cell_formatter(column, document.time_zone) for column in table.columns]
    widths = [len(name) for name in names]
    rows, kept, shown = [], SAMPLE_ROWS if drawn_apart else document.pdf_max_rows, 0
    with closing(table.rows()) as spooled_rows:
        for row in islice(spooled_rows, document.pdf_max_rows):
            texts = [text(value) for text, value in zip(formats, row, strict=True)]
            widths = [max(width, len(cell)) for width, cell in zip(widths, texts, strict=True)]
            shown += 1
            if shown <= kept:
                rows.append(texts)
            for index, column_values in values.items():
                column_values.append(row[index])
            for index, column_labels in labels.items():
                column_labels.append(texts[index])
    view = TableView(
        html_id=html_id,
        name=table.name,
        title=table.title,
        columns=_column_views(table.columns, widths),
        rows=rows,
        row_count=max(table.row_count, shown),
        shown=shown,
        drawn_apart=drawn_apart,
    )
    view.charts = [_chart_view(chart, names, values, labels, document) for chart in charts]
    return view


def _column_views(columns: list[Column], widths: list[int]) -> list[ColumnView]:
    chars = [min(max(width, MIN_COLUMN_CHARS), MAX_COLUMN_CHARS) for width in widths]
    total = sum(chars)
    return [
        ColumnView(
            name=column.name,
            type=column.type,
            width=round(100 * width / total, 2),
            clip=total > PAGE_WIDTH_CHARS or longest > MAX_COLUMN_CHARS,
        )
        for column, width, longest in zip(columns, chars, widths, strict=True)
    ]


def _chart_view(
    chart: Chart,
    names: list[str],
    values: dict[int, list[Any]],
    labels: dict[int, list[str]],
    document: ReportDocument,
) -> ChartView:
    series = {name: values[names.index(name)] for name in chart.y}
    colour = document.branding.colour
    svg = chart_svg(
        chart,
        labels=labels[names.index(chart.x)],
        series=series,
        first_colour=colour if COLOUR.fullmatch(colour) else DEFAULT_COLOUR,
    )
    return ChartView(title=chart.title, svg=mark_safe(svg))


def cell_formatter(column: Column, time_zone: ZoneInfo) -> Callable[[Any], str]:
    """A column's values as the PDF and HTML show them."""
    format_value = _FORMATS.get(column.type, str)
    if column.type == "number" and column.scale is not None:
        scaled = f"{{:.{column.scale}f}}".format
        return lambda value: "" if value is None else scaled(value)
    if column.type == "datetime":
        return lambda value: (
            "" if value is None else f"{value.astimezone(time_zone):%Y-%m-%d %H:%M:%S}"
        )
    return lambda value: "" if value is None else format_value(value)


def _number_text(value: float) -> str:
    # 15 significant digits show what was stored without float noise (0.1 + 0.2 is "0.3").
    return f"{value:.15g}"


def _date_text(value: date) -> str:
    return value.isoformat()


def _boolean_text(value: bool) -> str:
    return "Yes" if value else "No"


def _json_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


_FORMATS: dict[str, Callable[[Any], str]] = {
    "number": _number_text,
    "boolean": _boolean_text,
    "date": _date_text,
    "json": _json_text,
}


def _parameter_text(value: Any) -> str:
    if isinstance(value, bool):
        return _boolean_text(value)
    if isinstance(value, list | tuple):
        return ", ".join(_parameter_text(item) for item in value)
    if isinstance(value, dict):
        return _json_text(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return "" if value is None else str(value)
