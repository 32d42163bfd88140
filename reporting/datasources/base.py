import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any, Protocol

from reporting.tables import Column, DecimalScales, spool_rows


class DataSourceError(Exception):
    """A data source could not give its rows; the message says why, in words a user can act on.

    Adapters do not know the data source's name: the caller puts it in front of the message.
    """


@dataclass
class RowStream:
    """Column names and types, then the rows in batches; nothing holds every row at once.

    A stream may hold a cursor and a transaction open until its batches are exhausted or it is
    closed; while it is open, do not use the same database alias for anything else.
    """

    columns: list[Column]
    batches: Iterator[Sequence[Sequence[Any]]]

    def close(self) -> None:
        """Ends the stream early (say, after a preview's first batch) and frees its cursor."""
        close = getattr(self.batches, "close", None)
        if close is not None:
            close()


class DataSourceAdapter(Protocol):
    """One kind of data source (`DataSource.source_type`).

    Parameters are data: they are bound or placed as values, never spliced into query text.
    `stream` yields batches; `spool` writes every row to a spool file (see reporting.tables)
    and returns the columns and the row count (adapters with a faster native path, such as
    PostgreSQL's COPY, override it; others use `spool_from_stream`). `validate_config` raises
    DataSourceError for a config that can never work; `parameter_names` lists the parameters
    the query uses, so a template whose schema lacks one is refused when it is saved. A
    parameter the query uses but the execution does not give is passed as None (SQL NULL).
    Every failure is a DataSourceError.
    """

    source_type: str

    def validate_config(
        self, *, query: str, config: Mapping[str, Any], organization_id: Any
    ) -> None: ...

    def parameter_names(self, *, query: str, config: Mapping[str, Any]) -> set[str]: ...

    def stream(
        self,
        *,
        query: str,
        config: Mapping[str, Any],
        parameters: Mapping[str, Any],
        organization_id: Any,
        batch_size: int = 2000,
    ) -> RowStream: ...

    def spool(
        self,
        *,
        query: str,
        config: Mapping[str, Any],
        parameters: Mapping[str, Any],
        organization_id: Any,
        path: Path,
    ) -> tuple[list[Column], int]: ...

    def test(self, *, query: str, config: Mapping[str, Any], organization_id: Any) -> str: ...


def spool_from_stream(row_stream: RowStream, path: Path) -> tuple[list[Column], int]:
    """The portable spool: every batch of the stream through `tables.spool_rows`."""
    # spool_text writes a str as it is, so a JSON column's string value ("abc") would read back
    # as invalid JSON; JSON columns are written as JSON text instead.
    positions = [index for index, column in enumerate(row_stream.columns) if column.type == "json"]
    batches: Iterable[Sequence[Sequence[Any]]] = row_stream.batches
    if positions:
        batches = (_json_encoded(batch, positions) for batch in row_stream.batches)
    scales = DecimalScales(row_stream.columns)
    try:
        row_count = spool_rows(path, scales.observed(batches))
        return scales.columns(), row_count
    finally:
        row_stream.close()


def _json_encoded(batch: Sequence[Sequence[Any]], positions: list[int]) -> list[list[Any]]:
    rows = [list(row) for row in batch]
    for row in rows:
        for index in positions:
            if row[index] is not None:
                row[index] = json.dumps(row[index], default=str)
    return rows


def batched(rows: Iterable[Sequence[Any]], size: int) -> Iterator[list[Sequence[Any]]]:
    """Rows in lists of `size` (itertools.batched arrives in Python 3.12)."""
    iterator = iter(rows)
    while batch := list(islice(iterator, size)):
        yield batch


def config_keys_check(config: Any, *, allowed: dict[str, str], kind: str) -> Mapping[str, Any]:
    """A source's config is an object with only the keys its kind knows (key -> meaning)."""
    example = ", ".join(f'"{key}"' for key in allowed)
    if not isinstance(config, Mapping):
        raise DataSourceError(f"The config must be an object with {example}.")
    unknown = sorted(set(config) - set(allowed))
    if unknown:
        known = ", ".join(f'"{key}" ({meaning})' for key, meaning in allowed.items())
        raise DataSourceError(
            f"Unknown config key {', '.join(map(repr, unknown))}: a {kind} data source takes "
            f"{known} only."
        )
    return config


class SpoolsItsStream:
    """The portable spool for adapters without a native bulk path: every row of `stream`."""

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
