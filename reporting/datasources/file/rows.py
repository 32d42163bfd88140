"""A file's rows: read from its raw table, typed by column, and filtered by parameters."""

from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack
from itertools import chain, islice
from typing import Any

from reporting.datasources.base import DataSourceError
from reporting.datasources.file.config import FILTER_OPS, FileConfig, RowFilter
from reporting.datasources.file.json_readers import _json_document_table, _ndjson_table
from reporting.datasources.file.readers import RawTable, _csv_table, _open, _xlsx_table
from reporting.datasources.file.types import (
    CONVERTERS,
    SAMPLE_ROWS,
    _inferred_type,
    _to_string,
)
from reporting.tables import Column


def _typed_rows(
    file_config: FileConfig, resources: ExitStack
) -> tuple[list[Column], Iterator[list[Any]]]:
    binary = _open(file_config, resources)
    if file_config.format == "xlsx":
        table = _xlsx_table(binary, file_config, resources)
    else:
        readers = {"csv": _csv_table, "json": _json_document_table, "ndjson": _ndjson_table}
        table = readers[file_config.format](binary, file_config)
    declared = dict(file_config.columns) or dict.fromkeys(table.fields)
    missing = [name for name in declared if name not in table.fields]
    if missing:
        raise DataSourceError(
            f"{file_config.label} has no column {missing[0]!r}; its columns: "
            f"{', '.join(table.fields)}."
        )
    positions = [table.fields.index(name) for name in declared]
    sample = list(islice(table.records, SAMPLE_ROWS))
    columns = [
        Column(name, column_type or _inferred_type(sample, position, text=table.text))
        for (name, column_type), position in zip(declared.items(), positions, strict=True)
    ]
    inferred = {name for name, column_type in declared.items() if column_type is None}
    records = chain(sample, table.records)
    return columns, _converted(records, positions, columns, inferred, table, file_config)


def _converted(
    records: Iterator[tuple[int, list[Any]]],
    positions: list[int],
    columns: list[Column],
    inferred: set[str],
    table: RawTable,
    file_config: FileConfig,
) -> Iterator[list[Any]]:
    converters = [
        (index, CONVERTERS[column.type])
        for index, column in enumerate(columns)
        if not (table.text and column.type == "string")
    ]
    for where, record in records:
        row = [record[position] for position in positions]
        for index, convert in converters:
            value = row[index]
            try:
                row[index] = None if value is None or value == "" else convert(value)
            except (ValueError, ArithmeticError, TypeError):
                column = columns[index]
                hint = (
                    f' (the type its first {SAMPLE_ROWS:,} rows show; give one in "columns")'
                    if column.name in inferred
                    else ""
                )
                raise DataSourceError(
                    f"{file_config.label}, {table.where} {where}: {value!r} in the column "
                    f"{column.name!r} is not {column.type}{hint}."
                ) from None
        yield row


def _filtered(
    rows: Iterator[list[Any]],
    columns: list[Column],
    file_config: FileConfig,
    parameters: Mapping[str, Any],
) -> Iterator[list[Any]]:
    tests = [
        _row_test(row_filter, columns, parameters[row_filter.param], file_config)
        for row_filter in file_config.filters
        if parameters.get(row_filter.param) is not None
    ]
    if not tests:
        return rows
    return (row for row in rows if all(test(row) for test in tests))


def _row_test(
    row_filter: RowFilter, columns: list[Column], value: Any, file_config: FileConfig
) -> Callable[[list[Any]], bool]:
    names = [column.name for column in columns]
    if row_filter.column not in names:
        raise DataSourceError(
            f"{file_config.label} has no column {row_filter.column!r} to filter on; its "
            f"columns: {', '.join(names)}."
        )
    index = names.index(row_filter.column)
    column_type = columns[index].type
    if column_type == "json" and row_filter.op not in ("eq", "ne", "in", "contains"):
        raise DataSourceError(f"The column {row_filter.column!r} holds JSON: it has no order.")
    operand = _operand(row_filter, column_type, value)
    compare = FILTER_OPS[row_filter.op]
    return lambda row: row[index] is not None and compare(row[index], operand)


def _operand(row_filter: RowFilter, column_type: str, value: Any) -> Any:
    if row_filter.op == "contains":
        return _to_string(value).casefold()
    convert = CONVERTERS[column_type]
    try:
        if row_filter.op == "in":
            return [convert(item) for item in (value if isinstance(value, list) else [value])]
        return convert(value)
    except (ValueError, ArithmeticError, TypeError):
        raise DataSourceError(
            f"The parameter {row_filter.param!r} ({value!r}) is not {column_type} like the "
            f"column {row_filter.column!r} it filters."
        ) from None
