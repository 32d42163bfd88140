from django.db import migrations

TASK_NAME = "Generate report usage metrics (daily)"


def schedule_metrics(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    crontab, _ = CrontabSchedule.objects.get_or_create(
        minute="30", hour="0", day_of_week="*", day_of_month="*", month_of_year="*",
        timezone="UTC",
    )
    PeriodicTask.objects.get_or_create(
        name=TASK_NAME,
        defaults={"task": "business_intelligence.generate_report_usage_metrics", "crontab": crontab},
    )


def unschedule_metrics(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=TASK_NAME).delete()


class Migration(migrations.Migration):
    dependencies = [("reporting", "0006_usage_metrics")]

    operations = [migrations.RunPython(schedule_metrics, unschedule_metrics)]
