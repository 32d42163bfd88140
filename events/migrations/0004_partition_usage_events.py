"""Usage events become monthly range partitions on PostgreSQL (events/partitions.py, the way
events/partition_conversion.py describes); SQLite keeps one table, and Django's model state is
the same on both, so nothing here changes it. Run again on a partitioned table it does nothing,
so going back is a no-op.
"""

from django.db import migrations

from events.partition_conversion import table_partition
from events.partitions import EVENTS

TABLE = EVENTS.name
INDEXES = [
    # organization_id alone is left out: every lookup by organisation uses the first one.
    f'CREATE INDEX idx_usage_events_makerspace_timestamp ON {TABLE} (organization_id, "timestamp")',
    f'CREATE INDEX idx_usage_events_type ON {TABLE} (organization_id, event_type, "timestamp")',
    f'CREATE INDEX idx_usage_events_user ON {TABLE} (organization_id, user_id, "timestamp")',
    # Rows arrive about in time order, so a BRIN of a few kB stands for a b-tree on time.
    f'CREATE INDEX events_usageevent_timestamp_brin ON {TABLE} USING brin ("timestamp")',
]


def partition_usage_events(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            table_partition(cursor, EVENTS, INDEXES)


class Migration(migrations.Migration):
    dependencies = [("events", "0003_purge_old_events_daily")]

    operations = [migrations.RunPython(partition_usage_events, migrations.RunPython.noop)]
