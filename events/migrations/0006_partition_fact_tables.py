"""Equipment sessions, inventory and revenue become monthly range partitions on PostgreSQL, as
usage events did in 0004 (events/partitions.py, events/partition_conversion.py); SQLite keeps one
table each, and Django's model state is the same on both. Projects are not a time series: they
stay one table. Sessions and payments get side tables of their keys (session_id, transaction_id
once per organisation); inventory's unique (organization, item_id, date) holds the partition key
and stays a unique constraint. Usage events get the UPDATE trigger of their side table, which
0004 did not make. Run again it does nothing new, so going back is a no-op.
"""

from django.db import migrations

from events.partition_conversion import key_triggers_create, table_partition
from events.partitions import EVENTS, INVENTORY, REVENUE, SESSIONS

# The b-trees the dashboard, roll-ups, datasets and API read by (organization_id alone is left
# out: the (organization_id, <time>) one serves it), and a BRIN on time: rows arrive about in
# time order, so a few kB stand for a b-tree on time.
INDEXES = {
    SESSIONS: [
        f"CREATE INDEX idx_equipment_usage_time ON {SESSIONS.name} (organization_id, start_time)",
        f"CREATE INDEX idx_equipment_usage_equipment_timestamp ON {SESSIONS.name} "
        "(organization_id, equipment_id, start_time)",
        f"CREATE INDEX {SESSIONS.name}_start_time_brin ON {SESSIONS.name} USING brin (start_time)",
    ],
    INVENTORY: [
        f"ALTER TABLE {INVENTORY.name} ADD CONSTRAINT inventory_item_day_unique "
        'UNIQUE (organization_id, item_id, "date")',
        f"CREATE INDEX idx_inventory_analytics_makerspace_date ON {INVENTORY.name} "
        '(organization_id, "date")',
        f"CREATE INDEX idx_inventory_category ON {INVENTORY.name} "
        '(organization_id, category, "date")',
        f'CREATE INDEX {INVENTORY.name}_date_brin ON {INVENTORY.name} USING brin ("date")',
    ],
    REVENUE: [
        f"CREATE INDEX idx_revenue_analytics_makerspace_date ON {REVENUE.name} "
        '(organization_id, "timestamp")',
        f"CREATE INDEX idx_revenue_source ON {REVENUE.name} "
        '(organization_id, revenue_source, "timestamp")',
        f'CREATE INDEX {REVENUE.name}_timestamp_brin ON {REVENUE.name} USING brin ("timestamp")',
    ],
}


def partition_fact_tables(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        for table, indexes in INDEXES.items():
            table_partition(cursor, table, indexes)
        key_triggers_create(cursor, EVENTS)


class Migration(migrations.Migration):
    dependencies = [("events", "0005_ensure_event_partitions_daily")]

    operations = [migrations.RunPython(partition_fact_tables, migrations.RunPython.noop)]
