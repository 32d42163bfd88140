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

A number column's `scale` is how many decimals its values show in PDF, HTML and XLSX (a
`numeric(12,2)` 13.7 shows as 13.70); None shows a value as stored. It comes from the column's
declared scale where the database gives one (PostgreSQL `numeric(p,s)`), else from the values:
the most decimals of a Decimal value in the column (a float says nothing about its scale).
"""

import csv
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
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
    scale: int | None = None  # a number column's decimals (see the module docstring)

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


def decimal_scale(value: Decimal) -> int:
    exponent = value.as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


class DecimalScales:
    """Finds the scale of number columns that have none from their Decimal values, as the rows
    pass on their way to the spool (`observed`); `columns()` gives the columns with it."""

    def __init__(self, columns: list[Column]) -> None:
        self._columns = columns
        self._scales: dict[int, int | None] = {
            index: None
            for index, column in enumerate(columns)
            if column.type == "number" and column.scale is None
        }

    def observed(
        self, batches: Iterable[Sequence[Sequence[Any]]]
    ) -> Iterator[Sequence[Sequence[Any]]]:
        scales = self._scales
        for batch in batches:
            if scales:
                for row in batch:
                    for index, scale in scales.items():
                        value = row[index]
                        if isinstance(value, Decimal) and value.is_finite():
                            scales[index] = max(scale or 0, decimal_scale(value))
            yield batch

    def columns(self) -> list[Column]:
        return _with_scales(self._columns, self._scales)


def spool_text_scales(path: Path, columns: list[Column], positions: list[int]) -> list[Column]:
    """The columns, those at `positions` given the most decimals their spool text shows: for
    columns the database wrote as decimal text (PostgreSQL's numeric without a declared scale)."""
    scales: dict[int, int | None] = dict.fromkeys(positions)
    if positions:
        with path.open(newline="", encoding="utf-8") as spool:
            for fields in csv.reader(spool, "spool"):
                for index in positions:
                    text = fields[index]
                    if (point := text.find(".")) >= 0:
                        scales[index] = max(scales[index] or 0, len(text) - point - 1)
    return _with_scales(columns, scales)


def _with_scales(columns: list[Column], scales: dict[int, int | None]) -> list[Column]:
    return [
        replace(column, scale=scales[index]) if scales.get(index) is not None else column
        for index, column in enumerate(columns)
    ]


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
    pdf_max_rows: int = 200_000  # rows per table shown in PDF
    # HTML is one page built in memory and opened whole in a browser: it keeps its own, lower cap.
    html_max_rows: int = 10_000
    csv_formula_escaping: bool = True  # CSV: a `'` before formula-leading text cells
