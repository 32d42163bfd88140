"""The daily partition task makes partitions of every partitioned table since 0006, not only of
usage events: its beat entry's name says so."""

from django.db import migrations

OLD_NAME = "Make usage-event partitions ahead (daily)"
NEW_NAME = "Make monthly partitions ahead (daily)"


def rename(old: str, new: str):
    def run(apps, schema_editor):
        PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
        PeriodicTask.objects.filter(name=old).update(name=new)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("events", "0006_partition_fact_tables"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(rename(OLD_NAME, NEW_NAME), rename(NEW_NAME, OLD_NAME))]
