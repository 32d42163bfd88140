"""The reporting schema on PostgreSQL: the views report SQL reads (reporting/reporting_schema.py).

SQLite makes the same views for each run instead (TEMP views on the report connection).
A later migration that changes a column a view reads must drop and re-create the views.
"""

from django.db import migrations

from accounts.database_roles import organization_id_function_sql
from reporting.reporting_schema import postgresql_drop_sql, postgresql_sql


def _run(statements):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        for statement in statements():
            schema_editor.execute(statement)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0004_organization_opening_hours"),
        ("analytics", "0005_analytics_user"),
        ("delivery", "0003_daily_summary"),
        ("events", "0003_purge_old_events_daily"),
        ("reporting", "0012_template_run_role"),
    ]

    operations = [
        migrations.RunPython(
            _run(lambda: postgresql_sql(organization_id_function_sql())),
            _run(postgresql_drop_sql),
        )
    ]
