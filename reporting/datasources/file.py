"""`file` data sources: a CSV, XLSX, JSON or NDJSON file, uploaded to the source or under
REPORT_DATA_DIR, read as rows. There is no query; the config says what to read:

    {"path": "exports/sales.csv", "delimiter": ";",
     "columns": [{"name": "region"}, {"name": "amount", "type": "number"}],
     "filters": [{"column": "region", "op": "eq", "param": "region"}]}

- `upload` or `path`, exactly one. `upload` is the storage name of the file uploaded to the
  source (the service sets it; read through the default storage, only under the uploads'
  folder). `path` is relative to REPORT_DATA_DIR: no absolute path, no `..`, and resolved
  (symbolic links followed) it must stay inside the folder; checked when the config is
  validated and again before every read.
- `format`: csv, xlsx, json or ndjson; by default from the extension (`.jsonl` is ndjson).
- `sheet` (xlsx): the sheet's name, the first sheet by default. `delimiter` (csv): one
  character, "," by default. `encoding` (csv, json, ndjson): "utf-8-sig" by default (UTF-8, a
  byte order mark skipped). `records` (json): the dotted path of the list of records in the
  document ("data.items"); the document itself by default.
- `columns`: `[{"name": …, "type": …}]`, which columns, in this order, of which type (one of
  tables.COLUMN_TYPES; without one, inferred). By default every column of the header row (csv
  and xlsx files have one) or the keys of the first record (json, ndjson).
- `filters`: `[{"column", "op", "param"}]`, op one of eq ne gt gte lt lte in contains: only the
  rows whose column compares so with the parameter's value (converted to the column's type; a
  list for `in`; `contains` is a case-insensitive substring). A filter whose parameter is None
  or not given is skipped; NULL never matches.

Types: CSV text is parsed per column type; an empty field is NULL (except in string columns).
A column without a type is inferred from the first SAMPLE_ROWS rows: integer, number, boolean
(true/false), ISO date, ISO datetime, else string (digits with a leading zero stay text). XLSX
and JSON keep their own types (JSON strings holding ISO dates become dates). A later value that
does not fit its column's type fails the read, naming the line. Naive datetimes are UTC.
CSV numbers are Decimals, so "10.50" stays "10.50" in a CSV output.

Streaming: rows are read one at a time (the csv module, openpyxl read-only, NDJSON line by
line, JSON through raw_decode over 64 KB chunks, also along a `records` path) and only the
inference sample is held. In JSON, one value (a record, or a key's value passed on the way to
`records`) may not pass MAX_JSON_VALUE_CHARS.
"""

import csv
import io
import json
import operator
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from itertools import chain, islice
from pathlib import Path, PurePosixPath
from typing import IO, Any

from django.conf import settings
from django.core.exceptions import SuspiciousFileOperation
from django.core.files.storage import default_storage
from openpyxl import load_workbook

from reporting.datasources.base import (
    DataSourceError,
    RowStream,
    batched,
    config_keys_check,
    spool_from_stream,
)
from reporting.models import DataSource
from reporting.tables import COLUMN_TYPES, Column, spool_text

CONFIG_KEYS = {
    "upload": "the stored name of the uploaded file",
    "path": "a path relative to REPORT_DATA_DIR",
    "format": "csv, xlsx, json or ndjson (default: from the extension)",
    "sheet": "xlsx: the sheet's name (default: the first)",
    "delimiter": 'csv: one character (default ",")',
    "encoding": 'csv, json, ndjson: the text encoding (default "utf-8-sig")',
    "records": "json: the dotted path of the list of records (default: the top level)",
    "columns": "a list of {name, type}",
    "filters": "a list of {column, op, param}",
}
FORMATS = ("csv", "xlsx", "json", "ndjson")
EXTENSIONS = {
    ".csv": "csv",
    ".xlsx": "xlsx",
    ".json": "json",
    ".ndjson": "ndjson",
    ".jsonl": "ndjson",
}
FORMAT_KEYS = {
    "sheet": ("xlsx",),
    "delimiter": ("csv",),
    "encoding": ("csv", "json", "ndjson"),
    "records": ("json",),
}
FILTER_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
    "in": lambda value, options: value in options,
    "contains": lambda value, part: part in _to_string(value).casefold(),
}
# DataSource.file's upload_to, up to its first date placeholder: "data-sources/".
UPLOAD_FOLDER = DataSource._meta.get_field("file").upload_to.partition("%")[0]
SAMPLE_ROWS = 1000
JSON_CHUNK_CHARS = 64 * 1024
MAX_JSON_VALUE_CHARS = 16 * 1024 * 1024
# `test` counts the rows of files up to this size; openpyxl reads far fewer bytes a second.
COUNT_MAX_BYTES = {"xlsx": 2 * 1024 * 1024, "csv": 50 * 1024 * 1024}


@dataclass(frozen=True)
class RowFilter:
    column: str
    op: str
    param: str


@dataclass(frozen=True)
class FileConfig:
    upload: str | None
    path: str | None
    format: str
    sheet: str | None
    delimiter: str
    encoding: str
    records: tuple[str, ...]
    columns: tuple[tuple[str, str | None], ...]  # (name, type or None to infer)
    filters: tuple[RowFilter, ...]

    @property
    def label(self) -> str:
        return f"The file {self.upload or self.path!r}"


class FileAdapter:
    source_type = "file"

    def validate_config(self, *, query: str, config: Mapping[str, Any]) -> None:
        if query.strip():
            raise DataSourceError("A file data source takes no query: its config names the file.")
        file_config = file_config_parse(config)
        if file_config.path is not None:
            _data_file(file_config.path)  # the file itself may come later

    def parameter_names(self, *, query: str, config: Mapping[str, Any]) -> set[str]:
        return {row_filter.param for row_filter in file_config_parse(config).filters}

    def stream(
        self,
        *,
        query: str,
        config: Mapping[str, Any],
        parameters: Mapping[str, Any],
        organization_id: Any,
        batch_size: int = 2000,
    ) -> RowStream:
        file_config = file_config_parse(config)
        with ExitStack() as resources:
            columns, rows = _typed_rows(file_config, resources)
            rows = _filtered(rows, columns, file_config, parameters)
            batches = _Batches(batched(rows, batch_size), resources.pop_all(), file_config.label)
        return RowStream(columns=columns, batches=batches)

    def spool(
        self,
        *,
        query: str,
        config: Mapping[str, Any],
        parameters: Mapping[str, Any],
        organization_id: Any,
        path: Path,
    ) -> tuple[list[Column], int]:
        row_stream = self.stream(
            query=query, config=config, parameters=parameters, organization_id=organization_id
        )
        return spool_from_stream(row_stream, path)

    def test(self, *, query: str, config: Mapping[str, Any]) -> str:
        self.validate_config(query=query, config=config)
        file_config = file_config_parse(config)
        size = _file_size(file_config)
        row_stream = self.stream(query=query, config=config, parameters={}, organization_id=None)
        try:
            columns = ", ".join(f"{column.name} ({column.type})" for column in row_stream.columns)
            summary = f"OK: {file_config.format}, {size / 1e6:,.1f} MB; columns {columns}"
            if size > COUNT_MAX_BYTES.get(file_config.format, COUNT_MAX_BYTES["csv"]):
                return f"{summary}; rows not counted (a large file)"
            row_count = sum(len(batch) for batch in row_stream.batches)
        finally:
            row_stream.close()
        return f"{summary}; {row_count:,} rows"


class _Batches:
    """The batches of one open file; closing them closes the file, even before the first batch
    (closing a generator that never started runs none of its code)."""

    def __init__(self, batches: Iterator[list[Any]], resources: ExitStack, label: str) -> None:
        self._batches, self._resources, self._label = batches, resources, label

    def __iter__(self) -> "_Batches":
        return self

    def __next__(self) -> list[Any]:
        try:
            return next(self._batches)
        except OSError as error:
            self.close()
            raise DataSourceError(f"{self._label} could not be read: {error}") from error
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        self._batches.close()
        self._resources.close()


# --- the config ------------------------------------------------------------------------------


def file_config_parse(config: Any) -> FileConfig:
    """The config checked and completed with defaults; DataSourceError says what is wrong."""
    config = config_keys_check(config, allowed=CONFIG_KEYS, kind="file")
    upload, path = _text(config, "upload"), _text(config, "path")
    if (upload is None) == (path is None):
        raise DataSourceError('A file data source needs exactly one of "upload" and "path".')
    if upload is not None:
        _upload_check(upload)
    file_format = _format_of(config, upload or path or "")
    for key, formats in FORMAT_KEYS.items():
        if key in config and file_format not in formats:
            raise DataSourceError(f'"{key}" applies to {", ".join(formats)} files only.')
    delimiter = _text(config, "delimiter") or ","
    if len(delimiter) != 1:
        raise DataSourceError('"delimiter" must be one character.')
    encoding = _text(config, "encoding") or "utf-8-sig"
    try:
        "".encode(encoding)
    except LookupError:
        raise DataSourceError(f"Unknown encoding {encoding!r}.") from None
    records = _text(config, "records")
    columns = _columns_of(config.get("columns"))
    return FileConfig(
        upload=upload,
        path=path,
        format=file_format,
        sheet=_text(config, "sheet"),
        delimiter=delimiter,
        encoding=encoding,
        records=tuple(records.split(".")) if records else (),
        columns=columns,
        filters=_filters_of(config.get("filters"), columns),
    )


def _text(config: Mapping[str, Any], key: str) -> str | None:
    value = config.get(key)
    if value is not None and (not isinstance(value, str) or not value):
        raise DataSourceError(f'"{key}" must be a non-empty string.')
    return value


def _format_of(config: Mapping[str, Any], name: str) -> str:
    if "format" in config:
        if config["format"] not in FORMATS:
            raise DataSourceError(f'"format" must be one of {", ".join(FORMATS)}.')
        return config["format"]
    file_format = EXTENSIONS.get(PurePosixPath(name).suffix.lower())
    if file_format is None:
        raise DataSourceError(
            f'Cannot tell the format of {name!r} from its extension: set "format" to '
            f"{', '.join(FORMATS)}."
        )
    return file_format


def _columns_of(columns: Any) -> tuple[tuple[str, str | None], ...]:
    if columns is None:
        return ()
    shape = '"columns" must be a non-empty list of {"name": …, "type": …} with distinct names'
    if not isinstance(columns, list) or not columns:
        raise DataSourceError(f"{shape}.")
    parsed = []
    for column in columns:
        if not isinstance(column, dict) or set(column) - {"name", "type"}:
            raise DataSourceError(f"{shape}.")
        name, column_type = column.get("name"), column.get("type")
        if not isinstance(name, str) or not name:
            raise DataSourceError(f"{shape}.")
        if column_type is not None and column_type not in COLUMN_TYPES:
            raise DataSourceError(
                f"Column {name!r}: the type {column_type!r} is not one of "
                f"{', '.join(COLUMN_TYPES)}."
            )
        parsed.append((name, column_type))
    if len({name for name, _ in parsed}) != len(parsed):
        raise DataSourceError(f"{shape}.")
    return tuple(parsed)


def _filters_of(filters: Any, columns: tuple[tuple[str, str | None], ...]) -> tuple[RowFilter, ...]:
    if filters is None:
        return ()
    shape = '"filters" must be a list of {"column": …, "op": …, "param": …}'
    if not isinstance(filters, list):
        raise DataSourceError(f"{shape}.")
    parsed = []
    for row_filter in filters:
        if not isinstance(row_filter, dict) or set(row_filter) != {"column", "op", "param"}:
            raise DataSourceError(f"{shape}.")
        if not all(isinstance(value, str) and value for value in row_filter.values()):
            raise DataSourceError(f"{shape}, each a non-empty string.")
        if row_filter["op"] not in FILTER_OPS:
            raise DataSourceError(
                f"Unknown filter op {row_filter['op']!r}: use one of {', '.join(FILTER_OPS)}."
            )
        if columns and row_filter["column"] not in dict(columns):
            raise DataSourceError(f"The filter's column {row_filter['column']!r} is not listed.")
        parsed.append(RowFilter(**row_filter))
    return tuple(parsed)


def _upload_check(name: str) -> None:
    parts = PurePosixPath(name)
    if parts.is_absolute() or ".." in parts.parts or not name.startswith(UPLOAD_FOLDER):
        raise DataSourceError(f"{name!r} is not a file uploaded to a data source.")


def _data_file(relative: str) -> Path:
    """The file a `path` names, resolved; refused unless it stays inside REPORT_DATA_DIR."""
    parts = PurePosixPath(relative)
    if parts.is_absolute():
        raise DataSourceError(
            f"The path {relative!r} is absolute: file sources read paths relative to "
            "REPORT_DATA_DIR."
        )
    if ".." in parts.parts:
        raise DataSourceError(f'The path {relative!r} is refused: ".." is not allowed.')
    root = Path(settings.REPORT_DATA_DIR).resolve()
    try:
        resolved = (root / relative).resolve()
    except (OSError, RuntimeError, ValueError) as error:
        raise DataSourceError(f"The path {relative!r} cannot be resolved: {error}") from None
    if resolved == root or not resolved.is_relative_to(root):
        raise DataSourceError(
            f"The path {relative!r} is refused: it leads outside REPORT_DATA_DIR (through a "
            "symbolic link)."
        )
    return resolved


# --- opening ---------------------------------------------------------------------------------


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
    return resources.enter_context(binary)


def _file_size(file_config: FileConfig) -> int:
    try:
        if file_config.path is not None:
            return _data_file(file_config.path).stat().st_size
        return default_storage.size(file_config.upload)
    except OSError:
        raise DataSourceError(f"{file_config.label} does not exist.") from None


def _text_stream(binary: IO[bytes], file_config: FileConfig) -> io.TextIOWrapper:
    # newline="": the csv module handles line ends itself, quoted ones included.
    return io.TextIOWrapper(binary, encoding=file_config.encoding, newline="")


def _undecodable(file_config: FileConfig, error: UnicodeDecodeError, where: str) -> DataSourceError:
    return DataSourceError(
        f"{file_config.label} is not {file_config.encoding} text ({where}: {error.reason}); "
        'set "encoding".'
    )


# --- reading each format ---------------------------------------------------------------------


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


def _ndjson_table(binary: IO[bytes], file_config: FileConfig) -> RawTable:
    text = _text_stream(binary, file_config)
    return _json_table(_ndjson_lines(text, file_config), file_config, "line")


def _ndjson_lines(text: IO[str], file_config: FileConfig) -> Iterator[tuple[int, Any]]:
    number = 0
    try:
        for number, line in enumerate(text, 1):
            if line.strip():
                yield number, json.loads(line)
    except json.JSONDecodeError as error:
        raise DataSourceError(
            f"{file_config.label} is not valid NDJSON at line {number}: {error.msg}."
        ) from None
    except UnicodeDecodeError as error:
        raise _undecodable(file_config, error, f"line {number + 1}") from None


def _json_document_table(binary: IO[bytes], file_config: FileConfig) -> RawTable:
    document = JsonDocument(_text_stream(binary, file_config), file_config)
    records = enumerate(_json_records(document, file_config.records), 1)
    return _json_table(records, file_config, "record")


def _json_table(
    records: Iterator[tuple[int, Any]], file_config: FileConfig, where: str
) -> RawTable:
    fields = [name for name, _ in file_config.columns]
    if not fields:
        first = next(records, None)
        if first is None:
            raise DataSourceError(
                f'{file_config.label} has no records to take the columns from: list "columns".'
            )
        fields = list(_json_record(*first, file_config, where))
        records = chain([first], records)
    return RawTable(fields, _json_values(records, fields, file_config, where), where, text=False)


def _json_values(
    records: Iterator[tuple[int, Any]], fields: list[str], file_config: FileConfig, where: str
) -> Iterator[tuple[int, list[Any]]]:
    for number, record in records:
        values = _json_record(number, record, file_config, where)
        yield number, [values.get(field) for field in fields]


def _json_record(number: int, record: Any, file_config: FileConfig, where: str) -> dict[str, Any]:
    if not isinstance(record, dict):
        raise DataSourceError(
            f"{file_config.label}, {where} {number}: a record must be an object, not "
            f"{type(record).__name__}."
        )
    return record


class JsonDocument:
    """A JSON text read in chunks, one value at a time (json.JSONDecoder.raw_decode), so a
    list of records streams however long it is; only the current value is held."""

    _WHITESPACE = re.compile(r"[ \t\n\r]*")
    _DECODER = json.JSONDecoder()

    def __init__(self, text: IO[str], file_config: FileConfig) -> None:
        self.text, self.file_config = text, file_config
        self.buffer, self.position, self.lines_before, self.ended = "", 0, 0, False

    def next_char(self) -> str:
        """The next character after whitespace, not consumed; "" at the end of the text."""
        while True:
            self.position = self._WHITESPACE.match(self.buffer, self.position).end()
            if self.position < len(self.buffer):
                return self.buffer[self.position]
            if not self._fill():
                return ""

    def take(self, expected: str) -> str:
        char = self.next_char()
        if not char or char not in expected:
            wanted = " or ".join(repr(c) for c in expected)
            raise self.error(f"expected {wanted}", self.position)
        self.position += 1
        return char

    def value(self) -> Any:
        self.next_char()
        while True:
            try:
                value, end = self._DECODER.raw_decode(self.buffer, self.position)
                # A number at the buffer's end may go on in the next chunk.
                if end < len(self.buffer) or self.ended:
                    self.position = end
                    return value
            except json.JSONDecodeError as error:
                if self.ended:
                    raise self.error(error.msg, error.pos) from None
            self._fill()

    def error(self, message: str, position: int) -> DataSourceError:
        line = self.lines_before + self.buffer.count("\n", 0, position) + 1
        return DataSourceError(
            f"{self.file_config.label} is not valid JSON at line {line}: {message}."
        )

    def _fill(self) -> bool:
        try:
            chunk = self.text.read(JSON_CHUNK_CHARS)
        except UnicodeDecodeError as error:
            line = self.lines_before + self.buffer.count("\n") + 1
            raise _undecodable(self.file_config, error, f"after line {line}") from None
        self.ended = not chunk
        self.lines_before += self.buffer.count("\n", 0, self.position)
        self.buffer, self.position = self.buffer[self.position :] + chunk, 0
        if len(self.buffer) > MAX_JSON_VALUE_CHARS:
            raise self.error(
                f"a value longer than {MAX_JSON_VALUE_CHARS:,} characters (or broken JSON)", 0
            )
        return not self.ended


def _json_records(document: JsonDocument, path: tuple[str, ...]) -> Iterator[Any]:
    for depth, key in enumerate(path):
        _json_key_enter(document, key, ".".join(path[: depth + 1]))
    if document.next_char() != "[":
        where = f'"records" {".".join(path)!r}' if path else "the top level"
        raise DataSourceError(
            f'{document.file_config.label}: {where} is not a list of records; set "records" '
            "to the dotted path of the list."
        )
    document.take("[")
    if document.next_char() == "]":
        return
    while True:
        yield document.value()
        if document.take(",]") == "]":
            return


def _json_key_enter(document: JsonDocument, key: str, dotted: str) -> None:
    """Moves the document to the value of `key` in the object it is at."""
    missing = DataSourceError(f'{document.file_config.label} has no "records" path {dotted!r}.')
    if document.next_char() != "{":
        raise missing
    document.take("{")
    if document.next_char() == "}":
        raise missing
    while True:
        name = document.value()
        document.take(":")
        if name == key:
            return
        document.value()  # a sibling before the records: read whole, then dropped
        if document.take(",}") == "}":
            raise missing


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


# --- types and filters -----------------------------------------------------------------------


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
