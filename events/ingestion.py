"""The batch ingestion every analytics table shares: field rules, all-or-nothing validation,
de-duplication by a natural key, one transaction per batch."""

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from functools import cached_property
from typing import Any

import msgspec
from django.conf import settings
from django.db import connection, models, transaction
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from accounts.models import Organization
from config.errors import ApplicationError
from config.request_limits import json_depth_exceeds
from events.copy_insert import insert_new

Problems = list[tuple[str, str]]

EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
AHEAD = timedelta(days=1)  # clocks run a little fast; a time further ahead is a mistake
JSON_MAX_BYTES = 16 * 1024  # serialised, as UTF-8
JSON_MAX_DEPTH = 8  # nested objects and lists, the outermost counting as 1
NUMBER_MAX_LENGTH = 40  # characters of a number sent as a string (a CSV cell)
WHOLE_NUMBER_MAX = 2**31 - 1  # the columns' integer range


class BatchTooLarge(ApplicationError):
    status_code = 413


class ValueRefused(ValueError):
    """A value refused for a reason of its own rather than the field's; `too_large` answers
    the batch with 413 instead of 400."""

    def __init__(self, reason: str, *, too_large: bool = False):
        super().__init__(reason)
        self.reason = reason
        self.too_large = too_large


@dataclass(frozen=True)
class IngestResult:
    stored: int
    duplicates: int
    updated: int = 0
    # The validated records, as stored or not (duplicates too).
    rows: list[dict[str, Any]] = field(default_factory=list, repr=False)


@dataclass(frozen=True)
class Field:
    """`convert` turns a sent value into the stored one or raises ValueError; `kind` says what a
    valid value looks like and `reason` why a sent one was refused."""

    convert: Callable[[Any], Any]
    kind: str
    reason: str
    required: bool = False


def text(max_length: int, *, required: bool = False) -> Field:
    def convert(value: Any) -> str:
        if not isinstance(value, str):
            raise ValueError
        value = value.strip()
        if len(value) > max_length:
            raise ValueError
        return value

    return Field(convert, "a non-empty string", f"A string of at most {max_length} characters.",
                 required)  # fmt: skip


def choice(values: list[str], *, required: bool = False) -> Field:
    def convert(value: Any) -> str:
        if value not in values:
            raise ValueError
        return value

    return Field(convert, f"one of {', '.join(values)}", f"One of: {', '.join(values)}.", required)


def whole_number(*, required: bool = False) -> Field:
    """Whole numbers may come as strings: a CSV cell is one."""

    def convert(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise ValueError
        if not 0 <= int(_short(value)) <= WHOLE_NUMBER_MAX:
            raise ValueError
        return int(value)

    return Field(convert, "a whole number", f"A whole number from 0 to {WHOLE_NUMBER_MAX}.",
                 required)  # fmt: skip


def _short(value: Any) -> Any:
    if isinstance(value, str) and len(value) > NUMBER_MAX_LENGTH:
        raise ValueError
    return value


def number(*, required: bool = False) -> Field:
    def convert(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise ValueError
        result = float(_short(value))
        if result != result or result in (float("inf"), float("-inf")):
            raise ValueError
        return result

    return Field(convert, "a number", "A number, e.g. 2.5.", required)


def money(*, required: bool = False) -> Field:
    def convert(value: Any) -> Decimal:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise ValueError
        try:
            amount = Decimal(str(_short(value)))
        except InvalidOperation:
            raise ValueError from None
        if (
            not amount.is_finite()
            or amount != amount.quantize(Decimal("0.01"))
            or abs(amount) >= 10**10
        ):
            raise ValueError
        return amount

    return Field(convert, "an amount", "An amount with at most 2 decimals, e.g. 12.50.", required)


def flag(*, required: bool = False) -> Field:
    words = {True: True, False: False, "true": True, "false": False, "1": True, "0": False}

    def convert(value: Any) -> bool:
        key = value.lower() if isinstance(value, str) else value
        if (isinstance(key, int) and not isinstance(key, bool)) or key not in words:
            raise ValueError
        return words[key]

    return Field(convert, "true or false", "true or false.", required)


def day(*, required: bool = False) -> Field:
    def convert(value: Any) -> date:
        if isinstance(value, str) and (parsed := parse_date(value)):
            if not EARLIEST.date() <= parsed <= (timezone.now() + AHEAD).date():
                raise ValueRefused(_OUT_OF_RANGE)
            return parsed
        raise ValueError

    return Field(convert, "a date", "An ISO 8601 date, e.g. 2025-03-01.", required)


def moment(*, required: bool = False) -> Field:
    return Field(_moment, "a date and time",
                 "An ISO 8601 date and time, e.g. 2025-03-01T09:30:00Z.", required)  # fmt: skip


_OUT_OF_RANGE = "Between 2000-01-01 and a day from now (UTC)."


def _moment(value: Any) -> datetime:
    parsed = parse_datetime(value) if isinstance(value, str) else None
    if parsed is None:
        raise ValueError
    # A time without a zone is taken as UTC.
    parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    try:
        in_range = EARLIEST <= parsed <= datetime.now(UTC) + AHEAD
    except OverflowError:  # year 1 or 9999 with an offset that leaves the calendar
        in_range = False
    if not in_range:
        raise ValueRefused(_OUT_OF_RANGE)
    return parsed


def json_value(kind: type[dict] | type[list]) -> Field:
    """A JSON object or list; a string holding one is read too, as a CSV cell holds it."""

    def convert(value: Any) -> dict | list:
        if isinstance(value, str):
            if len(value) > JSON_MAX_BYTES:
                raise ValueRefused(_JSON_TOO_LARGE, too_large=True)
            try:
                value = _json_decode(value)
            except (ValueError, RecursionError):  # msgspec.DecodeError is a ValueError
                raise ValueError from None
        if not isinstance(value, kind):
            raise ValueError
        json_bounds_check(value)
        return value

    name = "A JSON object." if kind is dict else "A JSON list."
    return Field(convert, name.lower().rstrip("."), name)


_JSON_TOO_LARGE = f"At most {JSON_MAX_BYTES // 1024} KB as JSON."
_json_decode = msgspec.json.Decoder().decode
_json_encode = msgspec.json.Encoder().encode


def json_bounds_check(value: dict | list) -> None:
    """Depth first, without recursion: a deep value must not exhaust the stack here. The size
    is the value's compact UTF-8 JSON."""
    # Most values are flat: only the containers inside are walked (as deep as the value is).
    inner = [v for v in (value.values() if isinstance(value, dict) else value)
             if isinstance(v, dict | list)]  # fmt: skip
    if inner and json_depth_exceeds(inner, JSON_MAX_DEPTH):
        raise ValueRefused(f"At most {JSON_MAX_DEPTH} levels of nested objects and lists.")
    if len(_json_encode(value)) > JSON_MAX_BYTES:
        raise ValueRefused(_JSON_TOO_LARGE, too_large=True)


@dataclass(frozen=True)
class Table:
    """How one analytics table is written.

    Idempotency: a record whose `key` the organisation already has (or that repeats one earlier
    in the batch) is a duplicate. With `update_existing` it replaces the stored row (the last one
    in the batch wins) and counts as updated; without, it is not stored again. Records whose key
    has an empty part are always stored.
    """

    model: type[models.Model]
    fields: dict[str, Field]
    key: tuple[str, ...] = ()
    update_existing: bool = False
    pseudonymised: tuple[str, ...] = ()
    derive: Callable[[dict[str, Any]], Problems] | None = None

    @cached_property
    def rules(self) -> tuple[tuple[str, Field], ...]:
        return tuple(self.fields.items())

    @cached_property
    def names(self) -> frozenset[str]:
        return frozenset(self.fields)


def records_ingest(
    *,
    table: Table,
    organization: Organization,
    records: list[Any],
    name: str = "records",
    defaults: dict[str, Any] | None = None,
) -> IngestResult:
    """Validate every record, then store them together; an invalid one stores none. A value of
    `defaults` stands in for a record's own that is missing or empty."""
    if len(records) > settings.ANALYTICS_BATCH_SIZE:
        raise BatchTooLarge(
            f"A batch holds at most {settings.ANALYTICS_BATCH_SIZE} {name}; this one has "
            f"{len(records)}. Send it in smaller batches.",
            errors={name: [f"At most {settings.ANALYTICS_BATCH_SIZE} {name}."]},
        )  # fmt: skip
    errors, rows, too_large, defaults = [], [], False, defaults or {}
    for index, record in enumerate(records):
        values, problems, oversized = _values(table, record, defaults)
        if problems:
            errors += [{"index": index, "field": field, "reason": reason}
                       for field, reason in problems]  # fmt: skip
            too_large = too_large or oversized
        rows.append(values)
    if errors:
        error = BatchTooLarge if too_large else ApplicationError
        raise error(f"Nothing was stored: some {name} are not valid.", errors={name: errors})
    _pseudonymise(table, rows)
    return _store(table, organization, rows)


def _values(
    table: Table, record: Any, defaults: dict[str, Any]
) -> tuple[dict[str, Any], Problems, bool]:
    """The record's stored values, its problems, and whether one is that a value is too large."""
    if not isinstance(record, dict):
        return {}, [("", "Each item is a JSON object.")], False
    problems = []
    if not record.keys() <= table.names:
        problems = [(name, "Unknown field.") for name in sorted(record.keys() - table.names)]
    values, too_large = {}, False
    for name, rule in table.rules:
        value = record.get(name)
        if not value and name in defaults:
            value = defaults[name]
        if value is None or (isinstance(value, str) and not value.strip()):
            if rule.required:
                problems.append((name, f"This field is required: {rule.kind}."))
            continue
        try:
            values[name] = rule.convert(value)
        except ValueRefused as refused:
            problems.append((name, refused.reason))
            too_large = too_large or refused.too_large
        except (ValueError, TypeError, OverflowError):
            problems.append((name, rule.reason))
    if not problems and table.derive:
        problems = table.derive(values)
    return values, problems, too_large


def _pseudonymise(table: Table, rows: list[dict[str, Any]]) -> None:
    if not (table.pseudonymised and settings.ANALYTICS_PSEUDONYMIZE_USERS):
        return
    for values in rows:
        for name in table.pseudonymised:
            if values.get(name):
                values[name] = user_id_stored(values[name])


def user_id_stored(user_id: str) -> str:
    """With ANALYTICS_PSEUDONYMIZE_USERS, a keyed hash stands for the user: the same user gives
    the same value, and the value does not give the user away without the key."""
    if not settings.ANALYTICS_PSEUDONYMIZE_USERS:
        return user_id
    key = settings.ANALYTICS_PSEUDONYMIZE_KEY.encode()
    return hmac.new(key, user_id.encode(), hashlib.sha256).hexdigest()[:32]


@transaction.atomic(savepoint=False)  # a savepoint is no use: any error ends the batch
def _store(table: Table, organization: Organization, rows: list[dict[str, Any]]) -> IngestResult:
    if not table.key:
        return IngestResult(stored=_insert(table, organization, rows), duplicates=0, rows=rows)
    latest: dict[tuple, dict[str, Any]] = {}
    for row in rows:
        key = _key(table, row)
        key = key if all(key) else (id(row),)
        # Updating, the last record of a key wins; otherwise the first one stored stays.
        latest[key] = row if table.update_existing else latest.get(key, row)
    if table.update_existing:
        known = _known_keys(table, organization, rows)
        updates = [name for name in table.fields if name not in table.key]
        table.model.objects.bulk_create(
            _instances(table, organization, latest.values()), update_conflicts=True,
            unique_fields=["organization", *table.key], update_fields=[*updates, "received_at"],
        )  # fmt: skip
        updated = sum(1 for key in latest if key in known)
        return IngestResult(len(latest) - updated, len(rows) - len(latest), updated, rows=rows)
    stored = _insert(table, organization, list(latest.values()))
    return IngestResult(stored=stored, duplicates=len(rows) - stored, rows=rows)


def _insert(table: Table, organization: Organization, rows: list[dict[str, Any]]) -> int:
    """Stores the rows but none whose key the organisation has already; returns how many."""
    if connection.vendor == "postgresql":
        return insert_new(
            model=table.model, fields=list(table.fields), rows=rows,
            fixed={"organization": organization.pk},
        )  # fmt: skip
    known = _known_keys(table, organization, rows) if table.key else set()
    new = [row for row in rows if _key(table, row) not in known]
    # ignore_conflicts: a concurrent batch with the same key cannot fail this one.
    table.model.objects.bulk_create(_instances(table, organization, new), ignore_conflicts=True)
    return len(new)


def _instances(table: Table, organization: Organization, rows) -> list[models.Model]:
    return [table.model(organization=organization, **row) for row in rows]


def _key(table: Table, row: dict[str, Any]) -> tuple:
    return tuple(map(row.get, table.key))


def _known_keys(table: Table, organization: Organization, rows: list[dict]) -> set[tuple]:
    keys = {key for key in (_key(table, row) for row in rows) if all(key)}
    if not keys:
        return set()
    # One IN per key part, not an OR per key: SQLite refuses deeply nested expressions. The
    # answer is a superset, cut down to the batch's keys.
    parts = {f"{name}__in": {key[n] for key in keys} for n, name in enumerate(table.key)}
    known = table.model.objects.filter(organization=organization, **parts)
    return set(known.values_list(*table.key)) & keys
