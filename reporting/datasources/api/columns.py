"""Columns of an api source's records: configured ones, or inferred from the first page, typed."""

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from reporting.tables import Column

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATETIME = re.compile(
    r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:?\d{2})?$"
)


@dataclass(frozen=True)
class ColumnSpec:
    column: Column
    value: Callable[[Any], Any]


def inferred_columns(records: Sequence[Any]) -> list[ColumnSpec]:
    if not records:
        return []
    if not isinstance(records[0], Mapping):
        return [ColumnSpec(Column("value", _inferred_type(records)), lambda record: record)]
    specs = []
    for keys in _flat_keys(records[0]):
        value = _key_getter(keys)
        column = Column(".".join(keys), _inferred_type([value(each) for each in records]))
        specs.append(ColumnSpec(column, value))
    return specs


def _flat_keys(record: Mapping[str, Any], prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    keys = []
    for key, value in record.items():
        if isinstance(value, Mapping) and value:
            keys.extend(_flat_keys(value, (*prefix, key)))
        else:
            keys.append((*prefix, key))
    return keys


def _key_getter(keys: tuple[str, ...]) -> Callable[[Any], Any]:
    def value(record: Any) -> Any:
        for key in keys:
            if not isinstance(record, Mapping):
                return None
            record = record.get(key)
        return record

    return value


def _inferred_type(values: Sequence[Any]) -> str:
    kinds = {_kind(value) for value in values if value is not None}
    if len(kinds) == 1:
        return kinds.pop()
    if kinds == {"integer", "number"}:
        return "number"
    return "json" if "json" in kinds else "string"


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "integer" if isinstance(value, int) else "number"
    if isinstance(value, dict | list):
        return "json"
    for kind, pattern in (("date", _DATE), ("datetime", _DATETIME)):
        if isinstance(value, str) and pattern.match(value):
            try:
                _CONVERTERS[kind](value)
            except ValueError:
                return "string"
            return kind
    return "string"


def typed(value: Any, column_type: str) -> Any:
    return None if value is None else _CONVERTERS[column_type](value)


def _as_string(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _as_integer(value: Any) -> int:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise TypeError(value)
    return int(value)


def _as_number(value: Any) -> float | int:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise TypeError(value)
    return value if isinstance(value, int | float) else float(value)


def _as_boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise ValueError(value)


def _as_date(value: Any) -> date:
    if not isinstance(value, str) or not _DATE.match(value):
        raise ValueError(value)
    return date.fromisoformat(value)


def _as_datetime(value: Any) -> datetime:
    if not isinstance(value, str) or not _DATETIME.match(value):
        raise ValueError(value)
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _as_json(value: Any) -> Any:
    return value


_CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "string": _as_string,
    "integer": _as_integer,
    "number": _as_number,
    "boolean": _as_boolean,
    "date": _as_date,
    "datetime": _as_datetime,
    "json": _as_json,
}


_CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "string": _as_string,
    "integer": _as_integer,
    "number": _as_number,
    "boolean": _as_boolean,
    "date": _as_date,
    "datetime": _as_datetime,
    "json": _as_json,
}
