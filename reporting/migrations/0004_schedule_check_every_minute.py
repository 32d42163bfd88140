from django.db import migrations

TASK_NAME = "Check scheduled reports (every minute)"


def schedule_check(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every_minute, _ = IntervalSchedule.objects.get_or_create(every=1, period="minutes")
    PeriodicTask.objects.get_or_create(
        name=TASK_NAME,
        defaults={"task": "business_intelligence.check_scheduled_reports", "interval": every_minute},
    )


def unschedule_check(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=TASK_NAME).delete()


class Migration(migrations.Migration):
    dependencies = [("reporting", "0003_schedules")]

    operations = [migrations.RunPython(schedule_check, unschedule_check)]
