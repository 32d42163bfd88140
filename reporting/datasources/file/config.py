"""A file source's config, checked and completed with defaults (see the package docstring),
and the checks that keep a path inside REPORT_DATA_DIR and an upload inside the uploads' folder."""

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from django.conf import settings

from reporting.datasources.base import DataSourceError, config_keys_check
from reporting.datasources.file.types import _to_string
from reporting.models import DataSource
from reporting.tables import COLUMN_TYPES

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
