"""A file's values: column types inferred from a sample, and values converted to a type."""

import json
import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from reporting.tables import spool_text

SAMPLE_ROWS = 1000


def _value_kind(value: Any, *, text: bool) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return _text_kind(value, numbers=text)
    for kinds, kind in _NATIVE_KINDS:
        if isinstance(value, kinds):
            return kind
    return "string"


_NATIVE_KINDS = (
    (bool, "boolean"),
    (int, "integer"),
    (float | Decimal, "number"),
    (datetime, "datetime"),
    (date, "date"),
    (dict | list, "json"),
)
_INTEGER_TEXT = re.compile(r"-?(0|[1-9]\d*)")
_NUMBER_TEXT = re.compile(r"-?(0|[1-9]\d*)(\.\d+)?([eE][-+]?\d+)?")
_DATE_TEXT = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATETIME_TEXT = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")


def _text_kind(text: str, *, numbers: bool) -> str:
    if numbers and _INTEGER_TEXT.fullmatch(text):
        return "integer"
    if numbers and _NUMBER_TEXT.fullmatch(text):
        return "number"
    if numbers and text.lower() in ("true", "false"):
        return "boolean"
    for pattern, kind, parse in (
        (_DATE_TEXT.fullmatch, "date", date.fromisoformat),
        (_DATETIME_TEXT.match, "datetime", datetime.fromisoformat),
    ):
        if pattern(text):
            try:
                parse(text)
            except ValueError:
                return "string"
            return kind
    return "string"


def _inferred_type(sample: list[tuple[int, list[Any]]], position: int, *, text: bool) -> str:
    kinds = {_value_kind(record[position], text=text) for _, record in sample} - {None}
    if len(kinds) == 1:
        return kinds.pop()
    if kinds and kinds <= {"integer", "number"}:
        return "number"
    if kinds and kinds <= {"date", "datetime"}:
        return "datetime"
    return "string"


def _to_string(value: Any) -> str:
    if isinstance(value, str):
        return value
    return spool_text(value) if isinstance(value, bool | datetime | dict | list) else str(value)


def _to_integer(value: Any) -> int:
    if isinstance(value, str):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise TypeError


def _to_number(value: Any) -> int | float | Decimal:
    if isinstance(value, str):
        number = Decimal(value)
        if not number.is_finite():
            raise ValueError
        return number
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return value
    raise TypeError


def _to_boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).lower()
    if text in ("true", "t", "yes", "1"):
        return True
    if text in ("false", "f", "no", "0"):
        return False
    raise ValueError


def _to_date(value: Any) -> date:
    if isinstance(value, str):
        return date.fromisoformat(value)
    if isinstance(value, datetime) and value.time() == datetime.min.time():
        return value.date()  # a date cell: openpyxl gives a datetime at midnight
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    raise TypeError


def _to_datetime(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    elif isinstance(value, date) and not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    if not isinstance(value, datetime):
        raise TypeError
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _to_json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "string": _to_string,
    "integer": _to_integer,
    "number": _to_number,
    "boolean": _to_boolean,
    "date": _to_date,
    "datetime": _to_datetime,
    "json": _to_json,
}
