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

from collections.abc import Iterator, Mapping
from contextlib import ExitStack
from typing import Any

from reporting.datasources.base import (
    DataSourceError,
    RowStream,
    SpoolsItsStream,
    batched,
)
from reporting.datasources.file.config import _data_file, file_config_parse
from reporting.datasources.file.readers import _file_size
from reporting.datasources.file.rows import _filtered, _typed_rows

# `test` counts the rows of files up to this size; openpyxl reads far fewer bytes a second.
COUNT_MAX_BYTES = {"xlsx": 2 * 1024 * 1024, "csv": 50 * 1024 * 1024}


class FileAdapter(SpoolsItsStream):
    source_type = "file"

    def validate_config(
        self, *, query: str, config: Mapping[str, Any], organization_id: Any
    ) -> None:
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

    def test(self, *, query: str, config: Mapping[str, Any], organization_id: Any) -> str:
        self.validate_config(query=query, config=config, organization_id=organization_id)
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
