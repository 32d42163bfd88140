import json
import math
from collections.abc import Callable, Iterable
from datetime import date
from typing import Any, BinaryIO
from zoneinfo import ZoneInfo

from reporting.renderers import register
from reporting.tables import Column, ReportDocument, SpooledTable

ROWS_PER_WRITE = 1000

Convert = Callable[[Any], Any]


class JsonRenderer:
    """`{"template", "title", "parameters", "generated_at", "tables": {name: {"columns", "types",
    "rows"}}}`, one row per line, written as the rows stream.

    Dates and datetimes are ISO 8601 strings (datetimes in the document's time zone); numbers
    that JSON cannot hold (NaN, infinity) are null.
    """

    format = "json"

    def media(self, document: ReportDocument) -> tuple[str, str]:
        return "application/json", "json"

    def render(self, document: ReportDocument, out: BinaryIO) -> None:
        head = {
            "template": document.slug,
            "title": document.title,
            "parameters": document.parameters,
            "generated_at": document.generated_at.astimezone(document.time_zone).isoformat(),
        }
        # The head's closing brace is replaced by the "tables" member written below.
        _write(out, _dumps(head)[:-1] + ', "tables": {')
        for position, table in enumerate(document.tables):
            _write(out, ",\n" if position else "\n")
            _write_table(table, document.time_zone, out)
        _write(out, "\n}}\n")


# One encoder for every row: json.dumps with options builds a new encoder per call.
_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, default=str)
_dumps = _ENCODER.encode


def _write(out: BinaryIO, text: str) -> None:
    out.write(text.encode("utf-8"))


def _write_table(table: SpooledTable, time_zone: ZoneInfo, out: BinaryIO) -> None:
    meta = {
        "columns": [column.name for column in table.columns],
        "types": [column.type for column in table.columns],
    }
    _write(out, f'{_dumps(table.name)}: {_dumps(meta)[:-1]}, "rows": [')
    separator = "\n"
    for lines in _row_lines(table, time_zone):
        _write(out, separator + ",\n".join(lines))
        separator = ",\n"
    # Rows, when there were any, close on their own line as they opened.
    _write(out, "]}" if separator == "\n" else "\n]}")


def _row_lines(table: SpooledTable, time_zone: ZoneInfo) -> Iterable[list[str]]:
    """The table's rows as JSON lines, in batches of ROWS_PER_WRITE."""
    converters = [_converter(column, time_zone) for column in table.columns]
    identity = all(convert is None for convert in converters)
    converters = [convert or _same for convert in converters]
    lines = []
    for values in table.rows():
        if not identity:
            values = [convert(value) for convert, value in zip(converters, values, strict=True)]
        lines.append(_dumps(values))
        if len(lines) == ROWS_PER_WRITE:
            yield lines
            lines = []
    if lines:
        yield lines


def _same(value: Any) -> Any:
    return value


def _converter(column: Column, time_zone: ZoneInfo) -> Convert | None:
    """What turns a column's values into JSON-ready ones; None when they already are."""
    if column.type == "date":
        return _date_text
    if column.type == "datetime":
        return lambda value: None if value is None else value.astimezone(time_zone).isoformat()
    if column.type == "number":
        return _finite
    if column.type == "json":
        return _finite_json
    return None


def _date_text(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def _finite(value: float | None) -> float | None:
    return value if value is None or math.isfinite(value) else None


def _finite_json(value: Any) -> Any:
    # JSON text in a spool may carry NaN/Infinity (Python's json writes them); JSON cannot.
    if isinstance(value, float):
        return _finite(value)
    if isinstance(value, list):
        return [_finite_json(item) for item in value]
    if isinstance(value, dict):
        return {key: _finite_json(item) for key, item in value.items()}
    return value


register(JsonRenderer())
