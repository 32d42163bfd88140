"""Turning one of the tables of events/partitions.py into monthly partitions, for the migrations
(events/0004, events/0006). PostgreSQL only; Django's model state is not changed.

The rows move in one transaction under an ACCESS EXCLUSIVE lock: a partitioned copy of the table
is made with a partition for every month that has rows, this month and MONTHS_AHEAD more, and a
default partition; the rows (and the side table's keys) are copied, the names swapped, the views
that read the table (the reporting schema's) pointed at the new one, and the old table dropped.
Then the primary key (id, <time>), the foreign keys, the given indexes and the side table's
triggers are made. On a table already partitioned it does nothing.
"""

from datetime import UTC, datetime

from events.partitions import MONTHS_AHEAD, PartitionedTable, month_add, month_start


def table_partition(cursor, table: PartitionedTable, indexes: list[str]) -> None:
    """`indexes`: CREATE INDEX statements (and unique ones holding the time) for the new table."""
    cursor.execute("SELECT relkind FROM pg_class WHERE oid = to_regclass(%s)", [table.name])
    if cursor.fetchone()[0] == "p":
        return
    new, old = f"{table.name}_partitioned", f"{table.name}_unpartitioned"
    cursor.execute(f"LOCK TABLE {table.name} IN ACCESS EXCLUSIVE MODE")
    views, foreign_keys = _dependents(cursor, table.name)
    _copy_into_partitions(cursor, table, new, _months(cursor, table))
    if table.key_table:
        _side_table_fill(cursor, table)
    cursor.execute(f"ALTER TABLE {table.name} RENAME TO {old}")
    cursor.execute(f"ALTER TABLE {new} RENAME TO {table.name}")
    for name, definition, options in views:
        with_options = f" WITH ({', '.join(options)})" if options else ""
        cursor.execute(f"CREATE OR REPLACE VIEW {name}{with_options} AS {definition}")
    cursor.execute(f"DROP TABLE {old}")
    _keys_and_indexes(cursor, table, foreign_keys, indexes)
    if table.key_table:
        key_triggers_create(cursor, table)
    cursor.execute(f"ANALYZE {table.name}")


def _dependents(cursor, name: str) -> tuple[list, list]:
    """The views reading the table (to re-point: a view follows the table it was made on, not
    its name) and the foreign keys (to make again on the new table). A foreign key pointing at
    the table would need a unique id, which a partitioned table cannot have: there is none."""
    cursor.execute(
        "SELECT DISTINCT v.oid::regclass::text, pg_get_viewdef(v.oid), v.reloptions "
        "FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid JOIN pg_class v ON v.oid = "
        "r.ev_class WHERE d.refobjid = %s::regclass AND v.oid <> %s::regclass",
        [name, name],
    )
    views = cursor.fetchall()
    cursor.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = %s::regclass AND contype = 'f'",
        [name],
    )
    return views, cursor.fetchall()


def _months(cursor, table: PartitionedTable) -> list[datetime]:
    cursor.execute(f"SELECT DISTINCT {table.month_sql} FROM {table.name}")
    months = {month.replace(tzinfo=UTC) for (month,) in cursor.fetchall()}
    this_month = month_start(datetime.now(UTC))
    months |= {month_add(this_month, offset) for offset in range(MONTHS_AHEAD + 1)}
    return sorted(months)


def _copy_into_partitions(cursor, table: PartitionedTable, new: str, months: list) -> None:
    cursor.execute(
        f"CREATE TABLE {new} (LIKE {table.name} INCLUDING DEFAULTS INCLUDING IDENTITY) "
        f'PARTITION BY RANGE ("{table.column}")'
    )
    for month in months:
        cursor.execute(
            f"CREATE TABLE {table.partition_name(month)} PARTITION OF {new} "
            "FOR VALUES FROM (%s) TO (%s)",
            [table.bound(month), table.bound(month_add(month, 1))],
        )
    cursor.execute(f"CREATE TABLE {table.default} PARTITION OF {new} DEFAULT")
    cursor.execute(f"INSERT INTO {new} SELECT * FROM {table.name}")


def _side_table_fill(cursor, table: PartitionedTable) -> None:
    """The side table of the key, from the table's rows (unique there already)."""
    organization, key = table.key
    columns = f'{organization}, {key}, "{table.column}"'
    cursor.execute(
        f"CREATE TABLE {table.key_table} AS SELECT {columns} FROM {table.name} "
        f"WHERE {key} IS NOT NULL"
    )
    cursor.execute(
        f'ALTER TABLE {table.key_table} ALTER "{table.column}" SET NOT NULL, '
        f"ADD PRIMARY KEY ({organization}, {key})"
    )
    cursor.execute(
        f"CREATE INDEX {table.key_table}_{table.column}_brin ON {table.key_table} "
        f'USING brin ("{table.column}")'
    )


def _keys_and_indexes(cursor, table: PartitionedTable, foreign_keys: list, indexes: list) -> None:
    name = table.name
    cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [name])
    (sequence,) = cursor.fetchone()
    cursor.execute(f"ALTER SEQUENCE {sequence} RENAME TO {name}_id_seq")
    cursor.execute(f"SELECT setval('{name}_id_seq', coalesce(max(id), 0) + 1, false) FROM {name}")
    cursor.execute(
        f'ALTER TABLE {name} ADD CONSTRAINT {name}_pkey PRIMARY KEY (id, "{table.column}")'
    )
    for constraint, definition in foreign_keys:
        cursor.execute(f'ALTER TABLE {name} ADD CONSTRAINT "{constraint}" {definition}')
    for statement in indexes:
        cursor.execute(statement)


def key_triggers_create(cursor, table: PartitionedTable) -> None:
    """The statement triggers keeping the side table in step (made again if there)."""
    organization, key = table.key
    name, keys, time = table.name, table.key_table, f'"{table.column}"'
    columns = f"{organization}, {key}, {time}"
    add = f"INSERT INTO {keys} ({columns}) SELECT {columns} FROM added WHERE {key} IS NOT NULL;"
    remove = (
        f"DELETE FROM {keys} k USING removed r WHERE k.{organization} = r.{organization} "
        f"AND k.{key} = r.{key} AND k.{time} = r.{time};"
    )
    triggers = {
        # An UPDATE moving a row to another month's partition fires no DELETE or INSERT
        # statement trigger, only this one, with the row in both transition tables.
        "keys_replace": ("UPDATE", "OLD TABLE AS removed NEW TABLE AS added", remove + add),
        "keys_add": ("INSERT", "NEW TABLE AS added", add),
        "keys_remove": ("DELETE", "OLD TABLE AS removed", remove),
        "keys_empty": ("TRUNCATE", "", f"TRUNCATE {keys};"),
    }
    for trigger, (event, transition, body) in triggers.items():
        function = f"{name}_{trigger}"
        referencing = f"REFERENCING {transition} " if transition else ""
        cursor.execute(
            f"CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$\n"
            f"BEGIN\n    {body}\n    RETURN NULL;\nEND $$"
        )
        cursor.execute(f"DROP TRIGGER IF EXISTS {function} ON {name}")
        cursor.execute(
            f"CREATE TRIGGER {function} AFTER {event} ON {name} {referencing}"
            f"FOR EACH STATEMENT EXECUTE FUNCTION {function}()"
        )
