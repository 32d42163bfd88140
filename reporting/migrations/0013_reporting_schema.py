"""The reporting schema: the views report SQL reads (see reporting/reporting_schema.py)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0004_organization_opening_hours"),
        ("analytics", "0005_analytics_user"),
        ("delivery", "0003_daily_summary"),
        ("events", "0003_purge_old_events_daily"),
        ("reporting", "0012_template_run_role"),
    ]

    operations = []
