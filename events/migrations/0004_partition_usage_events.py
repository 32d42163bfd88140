"""Usage events become monthly range partitions on PostgreSQL (events/partitions.py); SQLite
keeps one table, and Django's model state is the same on both, so nothing here changes it.

The rows move in one transaction under an ACCESS EXCLUSIVE lock: a partitioned copy of the table
is made with a partition for every month that has events, this month and MONTHS_AHEAD more, and a
default partition; the rows and their keys are copied, the names swapped, the views that read the
table (the reporting schema's usage_events) pointed at the new one, and the old table dropped.
Then the primary key (id, timestamp), the foreign key, the indexes (the b-trees the queries use,
a BRIN on time) and the key triggers are made. Run again on a partitioned table it does nothing,
so going back is a no-op.
"""

from datetime import UTC, datetime

from django.db import migrations

from events.partitions import (
    DEFAULT_PARTITION,
    KEY_TABLE,
    MONTHS_AHEAD,
    TABLE,
    month_add,
    month_start,
    partition_name,
)

NEW = f"{TABLE}_partitioned"
OLD = f"{TABLE}_unpartitioned"

INDEXES = [
    # organization_id alone is left out: every lookup by organisation uses the first one.
    f'CREATE INDEX idx_usage_events_makerspace_timestamp ON {TABLE} (organization_id, "timestamp")',
    f'CREATE INDEX idx_usage_events_type ON {TABLE} (organization_id, event_type, "timestamp")',
    f'CREATE INDEX idx_usage_events_user ON {TABLE} (organization_id, user_id, "timestamp")',
    # Rows arrive about in time order, so a BRIN of a few kB stands for a b-tree on time.
    f'CREATE INDEX events_usageevent_timestamp_brin ON {TABLE} USING brin ("timestamp")',
]

KEYS = [
    f"CREATE TABLE {KEY_TABLE} (organization_id uuid NOT NULL, event_id varchar(128) NOT NULL, "
    f'"timestamp" timestamptz NOT NULL, PRIMARY KEY (organization_id, event_id))',
    f'CREATE INDEX {KEY_TABLE}_timestamp_brin ON {KEY_TABLE} USING brin ("timestamp")',
    f"INSERT INTO {KEY_TABLE} SELECT organization_id, event_id, \"timestamp\" FROM {TABLE} "
    "WHERE event_id IS NOT NULL",
]

TRIGGERS = f"""
CREATE FUNCTION {TABLE}_keys_add() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO {KEY_TABLE} (organization_id, event_id, "timestamp")
    SELECT organization_id, event_id, "timestamp" FROM added WHERE event_id IS NOT NULL;
    RETURN NULL;
END $$;
CREATE TRIGGER {TABLE}_keys_add AFTER INSERT ON {TABLE} REFERENCING NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION {TABLE}_keys_add();
CREATE FUNCTION {TABLE}_keys_remove() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM {KEY_TABLE} k USING removed r
    WHERE k.organization_id = r.organization_id AND k.event_id = r.event_id
        AND k."timestamp" = r."timestamp";
    RETURN NULL;
END $$;
CREATE TRIGGER {TABLE}_keys_remove AFTER DELETE ON {TABLE} REFERENCING OLD TABLE AS removed
    FOR EACH STATEMENT EXECUTE FUNCTION {TABLE}_keys_remove();
CREATE FUNCTION {TABLE}_keys_empty() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE {KEY_TABLE};
    RETURN NULL;
END $$;
CREATE TRIGGER {TABLE}_keys_empty AFTER TRUNCATE ON {TABLE}
    FOR EACH STATEMENT EXECUTE FUNCTION {TABLE}_keys_empty();
"""


def partition_usage_events(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT relkind FROM pg_class WHERE oid = to_regclass(%s)", [TABLE])
        if cursor.fetchone()[0] == "p":
            return
        cursor.execute(f"LOCK TABLE {TABLE} IN ACCESS EXCLUSIVE MODE")
        views, foreign_keys = _dependents(cursor)
        _copy_into_partitions(cursor, _months(cursor))
        for statement in KEYS:
            cursor.execute(statement)
        cursor.execute(f"ALTER TABLE {TABLE} RENAME TO {OLD}")
        cursor.execute(f"ALTER TABLE {NEW} RENAME TO {TABLE}")
        for name, definition, options in views:
            with_options = f" WITH ({', '.join(options)})" if options else ""
            cursor.execute(f"CREATE OR REPLACE VIEW {name}{with_options} AS {definition}")
        cursor.execute(f"DROP TABLE {OLD}")
        _keys_and_indexes(cursor, foreign_keys)
        cursor.execute(f"ANALYZE {TABLE}")


def _dependents(cursor) -> tuple[list, list]:
    """The views reading the table (to re-point: a view follows the table it was made on, not
    its name) and the foreign keys (to make again on the new table)."""
    cursor.execute(
        "SELECT DISTINCT v.oid::regclass::text, pg_get_viewdef(v.oid), v.reloptions "
        "FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid JOIN pg_class v ON v.oid = "
        "r.ev_class WHERE d.refobjid = %s::regclass AND v.oid <> %s::regclass",
        [TABLE, TABLE],
    )
    views = cursor.fetchall()
    cursor.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = %s::regclass AND contype = 'f'",
        [TABLE],
    )
    return views, cursor.fetchall()


def _months(cursor) -> list[datetime]:
    cursor.execute(
        f"SELECT DISTINCT date_trunc('month', \"timestamp\" AT TIME ZONE 'UTC') FROM {TABLE}"
    )
    months = {month.replace(tzinfo=UTC) for (month,) in cursor.fetchall()}
    this_month = month_start(datetime.now(UTC))
    months |= {month_add(this_month, offset) for offset in range(MONTHS_AHEAD + 1)}
    return sorted(months)


def _copy_into_partitions(cursor, months: list[datetime]) -> None:
    cursor.execute(
        f"CREATE TABLE {NEW} (LIKE {TABLE} INCLUDING DEFAULTS INCLUDING IDENTITY) "
        'PARTITION BY RANGE ("timestamp")'
    )
    for month in months:
        cursor.execute(
            f"CREATE TABLE {partition_name(month)} PARTITION OF {NEW} "
            "FOR VALUES FROM (%s) TO (%s)",
            [month, month_add(month, 1)],
        )
    cursor.execute(f"CREATE TABLE {DEFAULT_PARTITION} PARTITION OF {NEW} DEFAULT")
    cursor.execute(f"INSERT INTO {NEW} SELECT * FROM {TABLE}")


def _keys_and_indexes(cursor, foreign_keys: list) -> None:
    cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [TABLE])
    (sequence,) = cursor.fetchone()
    cursor.execute(f"ALTER SEQUENCE {sequence} RENAME TO {TABLE}_id_seq")
    cursor.execute(
        f"SELECT setval('{TABLE}_id_seq', coalesce(max(id), 0) + 1, false) FROM {TABLE}"
    )
    cursor.execute(f'ALTER TABLE {TABLE} ADD CONSTRAINT {TABLE}_pkey PRIMARY KEY (id, "timestamp")')
    for name, definition in foreign_keys:
        cursor.execute(f'ALTER TABLE {TABLE} ADD CONSTRAINT "{name}" {definition}')
    for statement in INDEXES:
        cursor.execute(statement)
    cursor.execute(TRIGGERS)


class Migration(migrations.Migration):
    dependencies = [("events", "0003_purge_old_events_daily")]

    operations = [migrations.RunPython(partition_usage_events, migrations.RunPython.noop)]
