"""Monthly range partitions of the usage events on PostgreSQL (README "Partitioned events").

`events_usageevent` is partitioned by RANGE on `timestamp`: one partition a calendar month (UTC),
named events_usageevent_pYYYYMM, and events_usageevent_default for any time without one, so an
insert is never refused. A primary key on a partitioned table must hold the partition key: it is
(id, timestamp); id still comes from the table's identity sequence, so it stays unique and the
ORM's pk lookups work (they probe each partition's primary key index).

A unique index must hold the partition key as well, so "an event_id once per organisation" cannot
be an index of the events table. The side table events_usageeventkey keeps it: its primary key is
(organization_id, event_id), and statement triggers on the events table keep it in step with the
events. Every INSERT or COPY adds its rows' keys (a key already there raises unique_violation and
rolls the whole statement back, as the unique index did), every DELETE removes its rows' keys,
TRUNCATE empties it. Dropping a partition fires no trigger: retention deletes those keys itself.
Events are never updated (the API and admin only add and read them), so no UPDATE trigger.

SQLite keeps one table with the unique constraint: nothing here runs there.
"""

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db import connection, transaction

TABLE = "events_usageevent"
DEFAULT_PARTITION = f"{TABLE}_default"
KEY_TABLE = "events_usageeventkey"
# Partitioned tables whose unique key lives in a side table: table -> (side table, key columns).
SIDE_KEYS = {TABLE: (KEY_TABLE, ("organization_id", "event_id"))}
MONTHS_AHEAD = 3  # partitions made ahead by the daily maintenance task
LOCK_TIMEOUT = "5s"  # DETACH and ATTACH wait no longer than this behind readers, then give up

_BOUND = re.compile(r"FROM \('([^']+)'\) TO \('([^']+)'\)")


@dataclass(frozen=True)
class Partition:
    name: str
    start: datetime
    end: datetime


def month_start(moment: datetime) -> datetime:
    moment = moment.astimezone(UTC)
    return datetime(moment.year, moment.month, 1, tzinfo=UTC)


def month_add(month: datetime, months: int) -> datetime:
    index = month.year * 12 + month.month - 1 + months
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


def partition_name(month: datetime) -> str:
    return f"{TABLE}_p{month:%Y%m}"


def is_partitioned() -> bool:
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT relkind FROM pg_class WHERE oid = to_regclass(%s)", [TABLE])
        found = cursor.fetchone()
    return bool(found) and found[0] == "p"


def partitions_list() -> list[Partition]:
    """The monthly partitions, oldest first (the default partition is not one of them)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
            "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = %s::regclass",
            [TABLE],
        )
        found = cursor.fetchall()
    partitions = []
    for name, bound in found:
        if match := _BOUND.search(bound):
            start, end = (datetime.fromisoformat(text).astimezone(UTC) for text in match.groups())
            partitions.append(Partition(name, start, end))
    return sorted(partitions, key=lambda partition: partition.start)


def partitions_ensure(
    *, now: datetime | None = None, months_ahead: int = MONTHS_AHEAD
) -> list[str]:
    """Makes the partitions of this month and the next `months_ahead`, and of every month the
    default partition holds rows of (a backfill, sample data), when missing; returns their
    names. Safe to run twice, and concurrently (a lock on the default partition orders runs)."""
    first = month_start(now or datetime.now(UTC))
    months = {month_add(first, offset) for offset in range(months_ahead + 1)}
    made = []
    for month in sorted(months | _months_in_default()):
        if partition_create(month):
            made.append(partition_name(month))
    return made


def _months_in_default() -> set[datetime]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT date_trunc('month', \"timestamp\" AT TIME ZONE 'UTC') "
            f"FROM {connection.ops.quote_name(DEFAULT_PARTITION)}"
        )
        return {month.replace(tzinfo=UTC) for (month,) in cursor.fetchall()}


@transaction.atomic
def partition_create(month: datetime) -> bool:
    """Makes `month`'s partition unless there is one. Rows the default partition holds for that
    month move into it first (ATTACH refuses a range the default partition has rows of). It is
    made as a plain table and attached: ATTACH takes a SHARE UPDATE EXCLUSIVE lock on the parent,
    so inserts and reads go on, where CREATE TABLE … PARTITION OF would block them."""
    name, end = partition_name(month), month_add(month, 1)
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
        # Two runs at once: the second waits here, then finds the partition made.
        cursor.execute(f"LOCK TABLE {quote(DEFAULT_PARTITION)} IN SHARE ROW EXCLUSIVE MODE")
        if any(partition.start == month for partition in partitions_list()):
            return False
        cursor.execute(f"CREATE TABLE {quote(name)} (LIKE {quote(TABLE)} INCLUDING DEFAULTS)")
        # The check lets ATTACH skip scanning the new table; the moved rows pass it.
        cursor.execute(
            f"ALTER TABLE {quote(name)} ADD CONSTRAINT {quote(name + '_range')} "
            f'CHECK ("timestamp" >= %s AND "timestamp" < %s)',
            [month, end],
        )
        cursor.execute(
            f"WITH moved AS (DELETE FROM {quote(DEFAULT_PARTITION)} "
            f'WHERE "timestamp" >= %s AND "timestamp" < %s RETURNING *) '
            f"INSERT INTO {quote(name)} SELECT * FROM moved",
            [month, end],
        )
        cursor.execute(
            f"ALTER TABLE {quote(TABLE)} ATTACH PARTITION {quote(name)} "
            "FOR VALUES FROM (%s) TO (%s)",
            [month, end],
        )
        cursor.execute(f"ALTER TABLE {quote(name)} DROP CONSTRAINT {quote(name + '_range')}")
    return True


def partition_drop(partition: Partition) -> int:
    """Detaches and drops a whole partition; returns how many events it held. Its keys stay in
    the side table until `keys_delete` (a re-sent purged event is a duplicate till then)."""
    quote = connection.ops.quote_name
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {quote(partition.name)}")
        (count,) = cursor.fetchone()
        # DETACH locks the parent briefly; behind a long read it gives up rather than queue
        # every insert behind itself (the next run tries again).
        cursor.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
        # A partition with deferred foreign-key checks pending (rows added earlier in the
        # caller's transaction) cannot be dropped: check them now.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(f"ALTER TABLE {quote(TABLE)} DETACH PARTITION {quote(partition.name)}")
        cursor.execute(f"DROP TABLE {quote(partition.name)}")
    return count


def keys_delete(*, before: datetime, after: datetime | None = None) -> int:
    """Deletes the side table's keys of events timed before `before` (and from `after`)."""
    with transaction.atomic(), connection.cursor() as cursor:
        if after is None:
            cursor.execute(f'DELETE FROM {KEY_TABLE} WHERE "timestamp" < %s', [before])
        else:
            cursor.execute(
                f'DELETE FROM {KEY_TABLE} WHERE "timestamp" >= %s AND "timestamp" < %s',
                [after, before],
            )
        return cursor.rowcount
