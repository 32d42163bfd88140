from django.db import migrations

TASK_NAME = "Sync report executions to Elasticsearch (every 5 minutes)"


def schedule_sync(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every_five_minutes, _ = IntervalSchedule.objects.get_or_create(every=5, period="minutes")
    PeriodicTask.objects.get_or_create(
        name=TASK_NAME,
        defaults={
            "task": "business_intelligence.sync_report_data_to_elasticsearch",
            "interval": every_five_minutes,
        },
    )


def unschedule_sync(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=TASK_NAME).delete()


class Migration(migrations.Migration):
    dependencies = [("reporting", "0010_execution_search_sync")]

    operations = [migrations.RunPython(schedule_sync, unschedule_sync)]
