"""What the analytics datasets share: the span of local days, streaming, rounding, and reading
the analytics replica when one is configured and fresh (config/db_router.py)."""

import functools
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import QuerySet

from accounts.models import Organization
from analytics.cache import organization_today
from analytics.ranges import range_default_start
from config.db_router import analytics_reads, analytics_reads_iterate
from reporting.datasources.base import DataSourceError, RowStream, batched
from reporting.datasources.dataset import DATASET_BATCH_SIZE, DatasetRows, register_dataset
from reporting.tables import Column

DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
RANGE_PARAMETERS = {
    "start_date": {
        "type": "string",
        "format": "date",
        "description": "First local day; default: 29 days before end_date",
    },
    "end_date": {
        "type": "string",
        "format": "date",
        "description": "Last local day; default: today",
    },
}
ZERO = Decimal("0.00")
MONEY_SCALE = 2  # the fact tables' money fields are numeric(12,2)

Row = dict[str, Any]


@dataclass(frozen=True)
class Span:
    """The local days a report covers, and the instants that bound them."""

    organization: Organization
    zone: ZoneInfo
    start: date
    end: date

    @property
    def since(self) -> datetime:
        return datetime.combine(self.start, time.min, tzinfo=self.zone)

    @property
    def until(self) -> datetime:
        return datetime.combine(self.end + timedelta(days=1), time.min, tzinfo=self.zone)

    def days(self) -> Iterator[date]:
        for offset in range((self.end - self.start).days + 1):
            yield self.start + timedelta(days=offset)

    def months(self) -> Iterator[date]:
        month = self.start.replace(day=1)
        while month <= self.end:
            yield month
            month = (month + timedelta(days=32)).replace(day=1)


def span_for(organization_id: Any, parameters: Mapping[str, Any]) -> Span:
    organization = Organization.objects.get(pk=organization_id)
    zone = ZoneInfo(organization.time_zone)
    end = _day(parameters, "end_date") or organization_today(organization)
    start = _day(parameters, "start_date") or range_default_start(end)
    return Span(organization=organization, zone=zone, start=start, end=end)


def _day(parameters: Mapping[str, Any], name: str) -> date | None:
    value = parameters.get(name)
    if value in (None, ""):
        return None
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise DataSourceError(f"{name} must be a date written YYYY-MM-DD, not {value!r}.") from None


def money(name: str) -> Column:
    """A column of money: shown with two decimals. Declared, because sums on SQLite come back
    as 15-digit Decimals (27.4000000000000) whose exponent says nothing about the scale."""
    return Column(name, "number", MONEY_SCALE)


def stream(columns: list[Column], rows: Iterable[Row]) -> RowStream:
    names = [column.name for column in columns]
    values = ([row[name] for name in names] for row in rows)
    return RowStream(columns=columns, batches=batched(values, DATASET_BATCH_SIZE))


def iterate(queryset: QuerySet) -> Iterator[Row]:
    return queryset.iterator(chunk_size=DATASET_BATCH_SIZE)


def every(rows: Iterable[Row], key: str, keys: Iterable[Any], zero: Row) -> Iterator[Row]:
    """`rows` ordered by `key`, with a zero row for each of `keys` that has none."""
    rows = iter(rows)
    pending = next(rows, None)
    for value in keys:
        if pending is not None and pending[key] == value:
            yield pending
            pending = next(rows, None)
        else:
            yield {key: value, **zero}


def rounded(value: float | Decimal | None, places: int = 2) -> float | None:
    return None if value is None else round(float(value), places)


def ratio(part: float | Decimal, whole: float | Decimal) -> float | None:
    return round(float(part) / float(whole), 2) if whole else None


def percent(part: float | Decimal, whole: float | Decimal) -> float | None:
    return round(float(part) * 100 / float(whole), 2) if whole else None


def dataset(name: str, title: str) -> Callable[[DatasetRows], DatasetRows]:
    def register(rows: DatasetRows) -> DatasetRows:
        register_dataset(name, title=title, parameters=RANGE_PARAMETERS)(_on_replica(rows))
        return rows

    return register


def _on_replica(rows: DatasetRows) -> DatasetRows:
    """The dataset read as analytics reads: its first queries, and each batch later on."""

    @functools.wraps(rows)
    def read(organization_id: Any, parameters: Mapping[str, Any]) -> RowStream:
        row_stream = analytics_reads(rows)(organization_id, parameters)
        return RowStream(
            columns=row_stream.columns, batches=analytics_reads_iterate(row_stream.batches)
        )

    return read
