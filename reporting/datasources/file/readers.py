"""Opening a file source's file, and reading CSV and XLSX files as raw tables: the header's
names and the records, one at a time, not yet typed."""

import csv
import io
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import IO, Any

from django.core.exceptions import SuspiciousFileOperation
from django.core.files.storage import default_storage
from openpyxl import load_workbook

from reporting.datasources.base import DataSourceError
from reporting.datasources.file.config import FileConfig, _data_file, _upload_check
from reporting.storage import storage_errors


def _open(file_config: FileConfig, resources: ExitStack) -> IO[bytes]:
    label = file_config.label
    try:
        if file_config.path is not None:
            binary: IO[bytes] = _data_file(file_config.path).open("rb")
        else:
            _upload_check(file_config.upload or "")
            binary = default_storage.open(file_config.upload, "rb")
    except FileNotFoundError:
        raise DataSourceError(f"{label} does not exist.") from None
    except IsADirectoryError:
        raise DataSourceError(f"{label} is a folder, not a file.") from None
    except SuspiciousFileOperation:
        raise DataSourceError(f"{label} is outside the uploads' storage.") from None
    except OSError as error:
        raise DataSourceError(f"{label} could not be opened: {error.strerror or error}") from None
    except storage_errors() as error:  # the uploads' S3 bucket refused or did not answer
        raise DataSourceError(f"{label} could not be opened: {error}") from None
    return resources.enter_context(binary)


def _file_size(file_config: FileConfig) -> int:
    try:
        if file_config.path is not None:
            return _data_file(file_config.path).stat().st_size
        return default_storage.size(file_config.upload)
    except OSError:
        raise DataSourceError(f"{file_config.label} does not exist.") from None
    except storage_errors() as error:
        raise DataSourceError(f"{file_config.label} could not be read: {error}") from None


def _text_stream(binary: IO[bytes], file_config: FileConfig) -> io.TextIOWrapper:
    # newline="": the csv module handles line ends itself, quoted ones included.
    return io.TextIOWrapper(binary, encoding=file_config.encoding, newline="")


def _undecodable(file_config: FileConfig, error: UnicodeDecodeError, where: str) -> DataSourceError:
    return DataSourceError(
        f"{file_config.label} is not {file_config.encoding} text ({where}: {error.reason}); "
        'set "encoding".'
    )


@dataclass
class RawTable:
    fields: list[str]  # the header row's names, or the record keys read
    records: Iterator[tuple[int, list[Any]]]  # (a record's number, its values in fields order)
    where: str  # what that number counts: "line", "record", "sheet 'Orders', row"
    text: bool  # every value is text, parsed by column type (CSV)


def _csv_table(binary: IO[bytes], file_config: FileConfig) -> RawTable:
    reader = csv.reader(
        _text_stream(binary, file_config), delimiter=file_config.delimiter, strict=True
    )
    lines = _csv_lines(reader, file_config)
    header = next(lines, None)
    if header is None:
        raise DataSourceError(f"{file_config.label} is empty: its first line names the columns.")
    return RawTable(_header(header[1], file_config), lines, "line", text=True)


def _csv_lines(reader: Any, file_config: FileConfig) -> Iterator[tuple[int, list[str]]]:
    width = None
    try:
        for fields in reader:
            if width is None:
                width = len(fields)
            elif len(fields) != width:
                if not fields and width > 1:
                    continue  # a blank line; in a one-column file it is a NULL
                fields = fields or [""]
                if len(fields) != width:
                    raise DataSourceError(
                        f"{file_config.label}, line {reader.line_num}: {len(fields)} fields "
                        f"where the header has {width}."
                    )
            yield reader.line_num, fields
    except csv.Error as error:
        raise DataSourceError(
            f"{file_config.label} is not valid CSV at line {reader.line_num}: {error}."
        ) from None
    except UnicodeDecodeError as error:
        raise _undecodable(file_config, error, f"line {reader.line_num + 1}") from None


def _xlsx_table(binary: IO[bytes], file_config: FileConfig, resources: ExitStack) -> RawTable:
    label = file_config.label
    try:
        workbook = load_workbook(binary, read_only=True, data_only=True)
    except Exception as error:  # openpyxl meets a damaged or foreign file with many types
        raise DataSourceError(f"{label} is not an XLSX workbook ({error}).") from None
    resources.callback(workbook.close)
    names = workbook.sheetnames
    if file_config.sheet is not None and file_config.sheet not in names:
        raise DataSourceError(
            f"{label} has no sheet {file_config.sheet!r}; its sheets: {', '.join(names)}."
        )
    sheet = workbook[file_config.sheet or names[0]]
    rows = _xlsx_rows(sheet.iter_rows(values_only=True), file_config, sheet.title)
    header = next(rows, None)
    if header is None:
        raise DataSourceError(f"{label}: the sheet {sheet.title!r} is empty.")
    names = list(header[1])
    while names and names[-1] is None:
        names.pop()  # read-only sheets report their used range, often wider than the header
    fields = _header(names, file_config)
    width = len(fields)
    records = (
        (where, [*values[:width], *[None] * (width - len(values))]) for where, values in rows
    )
    return RawTable(fields, records, f"sheet {sheet.title!r}, row", text=False)


def _xlsx_rows(
    rows: Iterator[tuple[Any, ...]], file_config: FileConfig, sheet: str
) -> Iterator[tuple[int, tuple[Any, ...]]]:
    number = 0
    try:
        for number, values in enumerate(rows, 1):
            if any(value is not None for value in values):
                yield number, values
    except Exception as error:  # a damaged sheet's XML or archive, in openpyxl's own terms
        raise DataSourceError(
            f"{file_config.label}: the sheet {sheet!r} cannot be read after row {number} ({error})."
        ) from None


def _header(names: list[Any], file_config: FileConfig) -> list[str]:
    fields = ["" if name is None else str(name).strip() for name in names]
    if not fields:
        raise DataSourceError(f"{file_config.label}: the header row is empty.")
    for number, field in enumerate(fields, 1):
        if not field:
            raise DataSourceError(
                f"{file_config.label}: column {number} of the header row has no name."
            )
    duplicates = sorted({field for field in fields if fields.count(field) > 1})
    if duplicates:
        raise DataSourceError(
            f"{file_config.label}: the header row names {', '.join(map(repr, duplicates))} "
            "more than once."
        )
    return fields
