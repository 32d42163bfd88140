import csv
import itertools
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, BinaryIO
from zoneinfo import ZoneInfo

from xlsxwriter import Workbook
from xlsxwriter.format import Format
from xlsxwriter.worksheet import Worksheet

from reporting.renderers import register
from reporting.tables import Chart, Column, ReportDocument, SpooledTable

CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MAX_DATA_ROWS_PER_SHEET = 1_048_575  # Excel's 1,048,576 rows, less the header row
SUMMARY_SHEET = "Summary"
SHEET_NAME_MAX = 31
INVALID_SHEET_CHARACTERS = re.compile(r"[\[\]:*?/\\]")
# Excel stores a date as days since 1899-12-30, from 1900-03-01 on (serial 61): XlsxWriter's own
# conversion, which knows Excel's phantom 29 February 1900, is several times slower per cell.
EXCEL_EPOCH = datetime(1899, 12, 30)
EXCEL_EPOCH_ORDINAL = EXCEL_EPOCH.toordinal()
FIRST_PLAIN_SERIAL = 61
ONE_DAY = timedelta(days=1)
DATE_FORMAT = "yyyy-mm-dd"
DATETIME_FORMAT = "yyyy-mm-dd hh:mm:ss"
# Widths in characters: at least the type's usual text, at most MAX_COLUMN_WIDTH; string and
# number columns widen to what the first WIDTH_SAMPLE_ROWS rows of the spool hold.
TYPE_WIDTHS = {
    "string": 10,
    "integer": 10,
    "number": 12,
    "boolean": 8,
    "date": 12,
    "datetime": 20,
    "json": 16,
}
SAMPLED_TYPES = {"string", "integer", "number", "json"}
WIDTH_SAMPLE_ROWS = 200
MAX_COLUMN_WIDTH = 60
# Excel's "bar" is horizontal; the report's bar charts are vertical, Excel's "column".
CHART_TYPES = {"bar": "column", "line": "line", "pie": "pie"}
CHART_HEIGHT_ROWS = 16  # a default chart is 288 px high, 15 default rows

CellWriter = Callable[[int, int, Any, Format | None], Any]


@dataclass(frozen=True)
class _Formats:
    title: Format
    bold: Format
    date: Format
    datetime: Format


@dataclass
class _PlacedTable:
    """Where a table's rows went: its sheets, in order, and the data rows on each."""

    table: SpooledTable
    sheets: list[str] = field(default_factory=list)
    rows_per_sheet: list[int] = field(default_factory=list)

    @property
    def row_count(self) -> int:
        return sum(self.rows_per_sheet)


class XlsxRenderer:
    """A Summary sheet (title, parameters, generation time, row counts, charts), then one sheet
    per table, continued on "<name> (2)" past MAX_DATA_ROWS_PER_SHEET rows; cells keep their
    column's type. Written with XlsxWriter's constant_memory mode, one row in memory at a time.
    """

    format = "xlsx"

    def media(self, document: ReportDocument) -> tuple[str, str]:
        return CONTENT_TYPE, "xlsx"

    def render(self, document: ReportDocument, out: BinaryIO) -> None:
        options = {"constant_memory": True, "nan_inf_to_errors": True, "use_zip64": True}
        with Workbook(out, options) as workbook:
            workbook.set_properties({"title": document.title})
            formats = _add_formats(workbook)
            summary = workbook.add_worksheet(SUMMARY_SHEET)
            names = _SheetNames(taken=[SUMMARY_SHEET])
            placed = [
                _write_table(workbook, table, names, formats, document.time_zone)
                for table in document.tables
            ]
            next_row = _write_summary(summary, document, placed, formats)
            _insert_charts(workbook, summary, document.charts, placed, next_row + 1)


def _add_formats(workbook: Workbook) -> _Formats:
    return _Formats(
        title=workbook.add_format({"bold": True, "font_size": 14}),
        bold=workbook.add_format({"bold": True}),
        date=workbook.add_format({"num_format": DATE_FORMAT}),
        datetime=workbook.add_format({"num_format": DATETIME_FORMAT}),
    )


class _SheetNames:
    """Valid, unique sheet names: at most 31 characters, none of []:*?/\\, no edge quote.
    Excel compares sheet names without regard to case."""

    def __init__(self, taken: Iterable[str]) -> None:
        self._taken = {name.lower() for name in taken}
        self._taken.add("history")  # reserved by Excel

    def claim(self, wanted: str, part: int = 1) -> str:
        base = INVALID_SHEET_CHARACTERS.sub("_", wanted).strip().strip("'").strip() or "Sheet"
        number = part
        while True:
            suffix = f" ({number})" if number > 1 else ""
            name = base[: SHEET_NAME_MAX - len(suffix)].rstrip("'") + suffix
            if name.lower() not in self._taken:
                self._taken.add(name.lower())
                return name
            number += 1


def _write_table(
    workbook: Workbook,
    table: SpooledTable,
    names: _SheetNames,
    formats: _Formats,
    time_zone: ZoneInfo,
) -> _PlacedTable:
    placed = _PlacedTable(table)
    widths = _column_widths(table)
    wanted = table.title or table.name
    decimal_formats = [_decimal_format(workbook, column) for column in table.columns]
    for part, rows in enumerate(_sheet_batches(table.rows(), MAX_DATA_ROWS_PER_SHEET), start=1):
        sheet = workbook.add_worksheet(names.claim(wanted, part))
        _start_sheet(sheet, table, widths, formats)
        writers, cell_formats = _cell_writers(sheet, table, formats, time_zone)
        cell_formats = [
            decimal_format or cell_format
            for decimal_format, cell_format in zip(decimal_formats, cell_formats, strict=True)
        ]
        written = _write_rows(writers, cell_formats, rows)
        sheet.autofilter(0, 0, written, len(table.columns) - 1)
        placed.sheets.append(sheet.name)
        placed.rows_per_sheet.append(written)
    return placed


def _decimal_format(workbook: Workbook, column: Column) -> Format | None:
    """A number column with a scale keeps its values as numbers, shown with that many decimals."""
    if column.type != "number" or column.scale is None:
        return None
    return workbook.add_format({"num_format": "0." + "0" * column.scale if column.scale else "0"})


def _sheet_batches(rows: Iterable[list[Any]], size: int) -> Iterator[Iterator[list[Any]]]:
    """The rows in runs of at most `size`, each to be consumed before the next is asked for;
    always at least one run, so an empty table still gets its sheet."""
    rows = iter(rows)
    yield itertools.islice(rows, size)
    for first in rows:
        yield itertools.chain((first,), itertools.islice(rows, size - 1))


def _column_widths(table: SpooledTable) -> list[int]:
    # +3 leaves room for the autofilter button beside the header text.
    widths = [max(TYPE_WIDTHS[column.type], len(column.name) + 3) for column in table.columns]
    sampled = [index for index, column in enumerate(table.columns) if column.type in SAMPLED_TYPES]
    with table.path.open(newline="", encoding="utf-8") as spool:
        for fields in itertools.islice(csv.reader(spool, "spool"), WIDTH_SAMPLE_ROWS):
            for index in sampled:
                widths[index] = max(widths[index], len(fields[index]) + 1)
    return [min(width, MAX_COLUMN_WIDTH) for width in widths]


def _start_sheet(
    sheet: Worksheet, table: SpooledTable, widths: list[int], formats: _Formats
) -> None:
    # constant_memory writes a row as soon as the next one starts: widths and the header first.
    for index, width in enumerate(widths):
        sheet.set_column(index, index, width)
    for index, column in enumerate(table.columns):
        sheet.write_string(0, index, column.name, formats.bold)
    sheet.freeze_panes(1, 0)


def _cell_writers(
    sheet: Worksheet, table: SpooledTable, formats: _Formats, time_zone: ZoneInfo
) -> tuple[list[CellWriter], list[Format | None]]:
    """One writer and one format per column, chosen once, so no cell is dispatched on its type.

    The writers are XlsxWriter's undecorated `_write_*` methods: the public ones wrap every call
    in an A1-notation check that costs about a tenth of the render (XlsxWriter is pinned).
    """

    def write_text(row: int, col: int, text: str, cell_format: Format | None) -> None:
        if not text:
            return  # a blank cell, as NULL is
        if text.startswith("<r>") and text.endswith("</r>"):
            # In constant_memory mode XlsxWriter writes such a string as raw rich-text XML;
            # as three fragments it is escaped like any other text, and reads the same.
            sheet._write_rich_string(row, col, text[0], text[1], text[2:])
            return
        sheet._write_string(row, col, text, cell_format)

    def write_json(row: int, col: int, value: Any, cell_format: Format | None) -> None:
        write_text(row, col, json.dumps(value, ensure_ascii=False), cell_format)

    def write_date(row: int, col: int, value: date, cell_format: Format | None) -> None:
        serial = value.toordinal() - EXCEL_EPOCH_ORDINAL
        if serial < FIRST_PLAIN_SERIAL:
            sheet._write_datetime(row, col, value, cell_format)
        else:
            sheet._write_number(row, col, serial, cell_format)

    # Both aware in the same zone object, so `local - epoch` is their wall-clock difference.
    epoch = EXCEL_EPOCH.replace(tzinfo=time_zone)

    def write_datetime(row: int, col: int, value: datetime, cell_format: Format | None) -> None:
        local = value.astimezone(time_zone)
        serial = (local - epoch) / ONE_DAY
        if serial < FIRST_PLAIN_SERIAL:
            sheet._write_datetime(row, col, local.replace(tzinfo=None), cell_format)
        else:
            sheet._write_number(row, col, serial, cell_format)

    by_type: dict[str, tuple[CellWriter, Format | None]] = {
        "string": (write_text, None),
        "json": (write_json, None),
        "integer": (sheet._write_number, None),
        "number": (sheet._write_number, None),
        "boolean": (sheet._write_boolean, None),
        "date": (write_date, formats.date),
        "datetime": (write_datetime, formats.datetime),
    }
    chosen = [by_type[column.type] for column in table.columns]
    return [writer for writer, _ in chosen], [cell_format for _, cell_format in chosen]


def _write_rows(
    writers: list[CellWriter], cell_formats: list[Format | None], rows: Iterable[list[Any]]
) -> int:
    """Writes rows from row 1 (under the header); returns how many."""
    row_index = 0
    for row_index, values in enumerate(rows, start=1):
        for col, value in enumerate(values):
            if value is not None:
                writers[col](row_index, col, value, cell_formats[col])
    return row_index


SummaryCell = tuple[Any, Format | None]


def _write_summary(
    sheet: Worksheet, document: ReportDocument, placed: list[_PlacedTable], formats: _Formats
) -> int:
    """Writes the Summary sheet's text; returns the first row below it."""
    sheet.set_column(0, 0, 28)
    sheet.set_column(1, 1, 22)
    sheet.set_column(2, 2, 40)
    lines = _summary_lines(document, placed, formats)
    for row, cells in enumerate(lines):
        for col, (value, cell_format) in enumerate(cells):
            _write_summary_value(sheet, row, col, value, cell_format)
    return len(lines)


def _summary_lines(
    document: ReportDocument, placed: list[_PlacedTable], formats: _Formats
) -> list[list[SummaryCell]]:
    generated_at = document.generated_at.astimezone(document.time_zone).replace(tzinfo=None)
    lines: list[list[SummaryCell]] = [[(document.title, formats.title)]]
    if document.description:
        lines.append([(document.description, None)])
    lines += [
        [],
        [
            ("Generated at", formats.bold),
            (generated_at, formats.datetime),
            (str(document.time_zone), None),
        ],
        [],
    ]
    if document.parameters:
        lines.append([("Parameters", formats.bold)])
        lines += [[(name, None), (value, None)] for name, value in document.parameters.items()]
        lines.append([])
    lines.append([("Table", formats.bold), ("Rows", formats.bold), ("Sheets", formats.bold)])
    lines += [
        [
            (table.table.title or table.table.name, None),
            (table.row_count, None),
            (", ".join(table.sheets), None),
        ]
        for table in placed
    ]
    return lines


def _write_summary_value(
    sheet: Worksheet, row: int, col: int, value: Any, cell_format: Format | None
) -> None:
    # Typed where Excel has the type; never through write(), which turns "=…" into a formula.
    if isinstance(value, bool):
        sheet.write_boolean(row, col, value, cell_format)
    elif isinstance(value, int | float):
        sheet.write_number(row, col, value, cell_format)
    elif isinstance(value, datetime | date):
        sheet.write_datetime(row, col, value, cell_format)
    elif isinstance(value, str):
        sheet.write_string(row, col, value, cell_format)
    elif value is not None:
        sheet.write_string(row, col, json.dumps(value, ensure_ascii=False, default=str))


def _insert_charts(
    workbook: Workbook,
    summary: Worksheet,
    charts: list[Chart],
    placed: list[_PlacedTable],
    first_row: int,
) -> None:
    by_name = {table.table.name: table for table in placed}
    for number, chart in enumerate(charts):
        if chart.table not in by_name:
            raise ValueError(f"Chart {chart.title!r} names table {chart.table!r}, not in report.")
        excel_chart = _excel_chart(workbook, chart, by_name[chart.table])
        summary.insert_chart(first_row + number * CHART_HEIGHT_ROWS, 0, excel_chart)


def _excel_chart(workbook: Workbook, chart: Chart, placed: _PlacedTable) -> Any:
    """A native chart over the table's first sheet: categories from x, a series per y."""
    names = [column.name for column in placed.table.columns]
    for column in (chart.x, *chart.y):
        if column not in names:
            raise ValueError(f"Chart {chart.title!r} names column {column!r}, not in its table.")
    excel_chart = workbook.add_chart({"type": CHART_TYPES[chart.type]})
    sheet = placed.sheets[0]
    # An empty table still gets a valid (empty) one-row range.
    last_row = max(placed.rows_per_sheet[0], 1)
    x = names.index(chart.x)
    for y_name in chart.y[:1] if chart.type == "pie" else chart.y:
        y = names.index(y_name)
        excel_chart.add_series(
            {
                "name": [sheet, 0, y],
                "categories": [sheet, 1, x, last_row, x],
                "values": [sheet, 1, y, last_row, y],
            }
        )
    if chart.title:
        excel_chart.set_title({"name": chart.title})
    return excel_chart


register(XlsxRenderer())
