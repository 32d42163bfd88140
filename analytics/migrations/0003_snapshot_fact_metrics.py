from django.db import migrations, models
from django.utils import timezone


def days_marked_dirty(apps, schema_editor):
    """Snapshots written before the fact-table metrics lack them: recompute those days."""
    snapshot = apps.get_model("analytics", "AnalyticsSnapshot")
    dirty_day = apps.get_model("analytics", "AnalyticsDirtyDay")
    now = timezone.now()
    days = snapshot.objects.values_list("organization_id", "date").distinct()
    dirty_day.objects.bulk_create(
        [dirty_day(organization_id=org, date=day, marked_at=now) for org, day in days],
        ignore_conflicts=True,
    )
    snapshot.objects.filter(metric="active_users").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("analytics", "0002_schedule_snapshot_refresh"),
    ]

    operations = [
        migrations.AlterField(
            model_name="analyticssnapshot",
            name="metric",
            field=models.CharField(
                choices=[
                    ("events", "Events"),
                    ("active_users", "Active Users"),
                    ("logins", "Logins"),
                    ("events_by_type", "Events By Type"),
                    ("events_by_category", "Events By Category"),
                    ("events_by_hour", "Events By Hour"),
                    ("equipment", "Equipment"),
                    ("inventory", "Inventory"),
                    ("revenue", "Revenue"),
                ],
                max_length=32,
            ),
        ),
        migrations.RunPython(days_marked_dirty, migrations.RunPython.noop),
    ]
