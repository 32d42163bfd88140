"""The shape data takes between a data source and the renderers.

A data source's rows are spooled once to a CSV file (no header, `,` delimiter, `"` quoting,
`\n` line ends, NULL as an empty field: the dialect of PostgreSQL's `COPY … WITH CSV`), so every
format of one execution reads the same snapshot, and a CSV output can copy the spool's bytes.
`SpooledTable.rows()` reads it back as typed Python values, as many times as needed, streaming.

Spool text per column type (what `spool_text` writes and `SpooledTable.rows` reads):
  string    as is; an empty field reads as "" (CSV cannot tell NULL from "" for text)
  integer   123            number    123.45 (read as float)
  boolean   true / false (t / f from COPY also read)
  date      2025-03-01     datetime  2025-03-01 10:00:00+00:00 (UTC; COPY's +00 also read)
  json      JSON text
"""

import csv
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

COLUMN_TYPES = ("string", "integer", "number", "boolean", "date", "datetime", "json")

csv.register_dialect(
    "spool",
    delimiter=",",
    quotechar='"',
    doublequote=True,
    lineterminator="\n",
    quoting=csv.QUOTE_MINIMAL,
)


@dataclass(frozen=True)
class Column:
    name: str
    type: str = "string"

    def __post_init__(self) -> None:
        if self.type not in COLUMN_TYPES:
            raise ValueError(f"Unknown column type {self.type!r} for column {self.name!r}.")


def spool_text(value: Any) -> str:
    """One Python value as its spool text (see the module docstring)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC)
        return value.isoformat(sep=" ")
    if isinstance(value, date | int | float | Decimal | str):
        return str(value)
    return json.dumps(value, default=str)


def _parse_boolean(text: str) -> bool:
    return text.lower() in ("true", "t", "1", "yes")


def _parse_datetime(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


_PARSERS: dict[str, Callable[[str], Any]] = {
    "integer": int,
    "number": float,
    "boolean": _parse_boolean,
    "date": date.fromisoformat,
    "datetime": _parse_datetime,
    "json": json.loads,
}


@dataclass
class SpooledTable:
    """One data source's result, spooled: re-readable, streamed, typed."""

    name: str
    title: str
    columns: list[Column]
    path: Path
    row_count: int = 0
    on_rows: Callable[[int], None] | None = field(default=None, repr=False)

    def rows(self, *, batch_size: int = 1000) -> Iterator[list[Any]]:
        """Typed rows from the spool; calls `on_rows(n)` every `batch_size` rows read."""
        typed = [(i, _PARSERS[c.type]) for i, c in enumerate(self.columns) if c.type != "string"]
        width, done = len(self.columns), 0
        with self.path.open(newline="", encoding="utf-8") as spool:
            for fields in csv.reader(spool, "spool"):
                if not fields and width == 1:
                    fields = [""]  # COPY writes a one-column NULL as an empty line
                if len(fields) != width:
                    raise ValueError(
                        f"Row {done + 1} of the spool of {self.name!r} has {len(fields)} fields, "
                        f"not {width}."
                    )
                for i, parse in typed:
                    text = fields[i]
                    fields[i] = parse(text) if text else None
                yield fields
                done += 1
                if self.on_rows and done % batch_size == 0:
                    self.on_rows(batch_size)
        if self.on_rows and done % batch_size:
            self.on_rows(done % batch_size)


def spool_rows(path: Path, batches: Iterable[Sequence[Sequence[Any]]]) -> int:
    """Write row batches to a spool file (the portable path); returns the row count."""
    count = 0
    with path.open("w", newline="", encoding="utf-8") as spool:
        writer = csv.writer(spool, "spool")
        for batch in batches:
            writer.writerows([spool_text(value) for value in row] for row in batch)
            count += len(batch)
    return count


@dataclass(frozen=True)
class Branding:
    name: str
    colour: str = "#1f4e79"
    logo: str = ""  # a data: URI, or a path under static/
    footer_text: str = ""


@dataclass(frozen=True)
class Chart:
    table: str
    type: str  # bar | line | pie
    x: str
    y: list[str]
    title: str = ""


@dataclass
class ReportDocument:
    """Everything a renderer needs; renderers read this and touch no ORM and no settings."""

    title: str
    slug: str
    description: str
    branding: Branding
    parameters: dict[str, Any]
    generated_at: datetime  # aware
    time_zone: ZoneInfo
    tables: list[SpooledTable]
    charts: list[Chart] = field(default_factory=list)
    layout: str | None = None  # Django template source for HTML/PDF; None: the default layout
    pdf_max_rows: int = 10_000  # rows per table shown in PDF and HTML
    csv_formula_escaping: bool = True  # CSV: a `'` before formula-leading text cells
