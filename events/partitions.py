"""Monthly range partitions of the time-keyed analytics tables on PostgreSQL (README
"Partitioned tables").

Each table in TABLES is partitioned by RANGE on its time column: one partition a calendar month
(UTC), named <table>_pYYYYMM, and <table>_default for any time without one, so an insert is never
refused. A primary key on a partitioned table must hold the partition key: it is (id, <time>); id
still comes from the table's identity sequence, so it stays unique and the ORM's pk lookups work
(they probe each partition's primary key index).

A unique index must hold the partition key as well. Inventory's (organization, item_id, date)
does, so it stays a unique index (one per partition) and ON CONFLICT finds it. "An event_id, a
session_id, a transaction_id once per organisation" does not: a side table keeps each of those
(<table>key, primary key (organization_id, <id>), and the row's time). Statement triggers on the
table keep it in step: every INSERT or COPY adds its rows' keys (a key already there raises
unique_violation and rolls the whole statement back, as the unique index did), every DELETE
removes its rows' keys, an UPDATE swaps the old keys for the new, TRUNCATE empties it. Dropping a
partition fires no trigger: retention deletes those keys itself.

SQLite keeps one table with the unique constraint: nothing here runs there.
"""

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime

from django.db import connection, transaction

MONTHS_AHEAD = 3  # partitions made ahead by the daily maintenance task
LOCK_TIMEOUT = "5s"  # DETACH and ATTACH wait no longer than this behind readers, then give up

_BOUND = re.compile(r"FROM \('([^']+)'\) TO \('([^']+)'\)")


@dataclass(frozen=True)
class PartitionedTable:
    name: str
    column: str  # the partition key: a timestamptz, or a date with `by_day`
    by_day: bool = False
    key_table: str | None = None  # the side table of a unique key without the time
    key: tuple[str, ...] = ()  # its columns

    @property
    def default(self) -> str:
        return f"{self.name}_default"

    def partition_name(self, month: datetime) -> str:
        return f"{self.name}_p{month:%Y%m}"

    def bound(self, month: datetime) -> datetime | date:
        return month.date() if self.by_day else month

    @property
    def month_sql(self) -> str:
        """The UTC month (a timestamp without zone) of a row's time."""
        column = connection.ops.quote_name(self.column)
        if self.by_day:
            return f"date_trunc('month', {column}::timestamp)"
        return f"date_trunc('month', {column} AT TIME ZONE 'UTC')"


EVENTS = PartitionedTable(
    "events_usageevent", "timestamp", key_table="events_usageeventkey",
    key=("organization_id", "event_id"),
)  # fmt: skip
SESSIONS = PartitionedTable(
    "events_equipmentusagelog", "start_time", key_table="events_equipmentusagelogkey",
    key=("organization_id", "session_id"),
)  # fmt: skip
INVENTORY = PartitionedTable("events_inventoryanalytics", "date", by_day=True)
REVENUE = PartitionedTable(
    "events_revenueanalytics", "timestamp", key_table="events_revenueanalyticskey",
    key=("organization_id", "transaction_id"),
)  # fmt: skip
# Project analytics is not a time series (a project is replaced when sent again): one table.
TABLES = {table.name: table for table in (EVENTS, SESSIONS, INVENTORY, REVENUE)}
# Partitioned tables whose unique key lives in a side table: table -> (side table, key columns).
SIDE_KEYS = {table.name: (table.key_table, table.key) for table in TABLES.values()
             if table.key_table}  # fmt: skip


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


def is_partitioned(table: PartitionedTable) -> bool:
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT relkind FROM pg_class WHERE oid = to_regclass(%s)", [table.name])
        found = cursor.fetchone()
    return bool(found) and found[0] == "p"


def partitions_list(table: PartitionedTable) -> list[Partition]:
    """The monthly partitions, oldest first (the default partition is not one of them)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
            "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = %s::regclass",
            [table.name],
        )
        found = cursor.fetchall()
    partitions = []
    for name, bound in found:
        if match := _BOUND.search(bound):
            start, end = (_bound_read(text) for text in match.groups())
            partitions.append(Partition(name, start, end))
    return sorted(partitions, key=lambda partition: partition.start)


def _bound_read(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    # A date's bound has no zone: its months are UTC months as well.
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def partitions_ensure(
    *, now: datetime | None = None, months_ahead: int = MONTHS_AHEAD
) -> list[str]:
    """For every partitioned table: makes the partitions of this month and the next
    `months_ahead`, and of every month the default partition holds rows of (a backfill, sample
    data), when missing; returns their names. Safe to run twice, and concurrently (a lock on the
    default partition orders runs)."""
    first = month_start(now or datetime.now(UTC))
    ahead = {month_add(first, offset) for offset in range(months_ahead + 1)}
    made = []
    for table in TABLES.values():
        if not is_partitioned(table):
            continue
        for month in sorted(ahead | _months_in_default(table)):
            if partition_create(table, month):
                made.append(table.partition_name(month))
    return made


def _months_in_default(table: PartitionedTable) -> set[datetime]:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT DISTINCT {table.month_sql} FROM {connection.ops.quote_name(table.default)}"
        )
        return {month.replace(tzinfo=UTC) for (month,) in cursor.fetchall()}


@transaction.atomic
def partition_create(table: PartitionedTable, month: datetime) -> bool:
    """Makes `month`'s partition of `table` unless there is one. Rows the default partition
    holds for that month move into it first (ATTACH refuses a range the default partition has
    rows of). It is made as a plain table and attached: ATTACH takes a SHARE UPDATE EXCLUSIVE
    lock on the parent, so inserts and reads go on, where CREATE TABLE … PARTITION OF would
    block them."""
    name, quote = table.partition_name(month), connection.ops.quote_name
    start, end = table.bound(month), table.bound(month_add(month, 1))
    column = quote(table.column)
    with connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
        # Two runs at once: the second waits here, then finds the partition made.
        cursor.execute(f"LOCK TABLE {quote(table.default)} IN SHARE ROW EXCLUSIVE MODE")
        if any(partition.start == month for partition in partitions_list(table)):
            return False
        cursor.execute(f"CREATE TABLE {quote(name)} (LIKE {quote(table.name)} INCLUDING DEFAULTS)")
        # The check lets ATTACH skip scanning the new table; the moved rows pass it.
        cursor.execute(
            f"ALTER TABLE {quote(name)} ADD CONSTRAINT {quote(name + '_range')} "
            f"CHECK ({column} >= %s AND {column} < %s)",
            [start, end],
        )
        cursor.execute(
            f"WITH moved AS (DELETE FROM {quote(table.default)} "
            f"WHERE {column} >= %s AND {column} < %s RETURNING *) "
            f"INSERT INTO {quote(name)} SELECT * FROM moved",
            [start, end],
        )
        cursor.execute(
            f"ALTER TABLE {quote(table.name)} ATTACH PARTITION {quote(name)} "
            "FOR VALUES FROM (%s) TO (%s)",
            [start, end],
        )
        cursor.execute(f"ALTER TABLE {quote(name)} DROP CONSTRAINT {quote(name + '_range')}")
    return True


def partition_drop(table: PartitionedTable, partition: Partition) -> int:
    """Detaches and drops a whole partition; returns how many rows it held. Its keys stay in
    the side table until `keys_delete` (a re-sent purged row is a duplicate till then)."""
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
        cursor.execute(f"ALTER TABLE {quote(table.name)} DETACH PARTITION {quote(partition.name)}")
        cursor.execute(f"DROP TABLE {quote(partition.name)}")
    return count


def keys_delete(table: PartitionedTable, *, before: datetime, after: datetime | None = None) -> int:
    """Deletes the side table's keys of rows timed before `before` (and from `after`)."""
    if table.key_table is None:
        return 0
    quote = connection.ops.quote_name
    key_table, column = quote(table.key_table), quote(table.column)
    with transaction.atomic(), connection.cursor() as cursor:
        if after is None:
            cursor.execute(f"DELETE FROM {key_table} WHERE {column} < %s", [before])
        else:
            cursor.execute(
                f"DELETE FROM {key_table} WHERE {column} >= %s AND {column} < %s",
                [after, before],
            )
        return cursor.rowcount
