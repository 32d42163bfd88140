"""SQLite: rows by fetchmany, column types inferred from the first batch's values."""

from collections.abc import Iterator, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper

from reporting.datasources.base import DataSourceError
from reporting.datasources.database.guard import Guard
from reporting.tables import Column

# Python types a later SQLite value may have in a column whose type the first batch set.
_FITS: dict[str, tuple[type, ...]] = {
    "boolean": (bool,),
    "integer": (int,),
    "number": (int, float, Decimal),
    "date": (date,),
    "datetime": (datetime,),
}


def rows(
    connection: BaseDatabaseWrapper,
    statement: str,
    values: dict[str, Any],
    batch_size: int,
    guard: Guard,
) -> Iterator[Any]:
    with connection.cursor() as cursor:
        guard.restart()
        cursor.execute(statement, values)
        if not cursor.description:
            raise DataSourceError("The query gives no columns.")
        guard.restart()
        batch = cursor.fetchmany(batch_size)
        columns = _columns([column[0] for column in cursor.description], batch)
        yield columns
        fits = [
            (index, column, _FITS[column.type])
            for index, column in enumerate(columns)
            if column.type in _FITS
        ]
        while batch:
            yield batch
            guard.restart()
            batch = cursor.fetchmany(batch_size)
            _check_fit(batch, fits)


def _columns(names: list[str], batch: Sequence[Sequence[Any]]) -> list[Column]:
    by_column = list(zip(*batch, strict=True)) or [()] * len(names)
    return [
        Column(name, _inferred_type(values)) for name, values in zip(names, by_column, strict=True)
    ]


def _value_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float | Decimal):
        return "number"
    if isinstance(value, datetime):
        return "datetime"
    if isinstance(value, date):
        return "date"
    return "string"


def _inferred_type(values: Sequence[Any]) -> str:
    kinds = {_value_type(value) for value in values if value is not None}
    if kinds == {"integer", "number"}:
        return "number"
    return kinds.pop() if len(kinds) == 1 else "string"


def _check_fit(
    batch: Sequence[Sequence[Any]], fits: list[tuple[int, Column, tuple[type, ...]]]
) -> None:
    for index, column, allowed in fits:
        for row in batch:
            value = row[index]
            if value is not None and type(value) not in allowed:
                raise DataSourceError(
                    f"Column {column.name!r} held {column.type} values in its first rows, then "
                    f"{value!r}: SQLite results carry no types, so they come from the first "
                    "rows; CAST the column in the query to give it one type."
                )
