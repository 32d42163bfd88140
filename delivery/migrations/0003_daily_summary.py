from django.db import migrations

TASK_NAME = "Send the daily report summary to admins"


def schedule_summary(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    crontab, _ = CrontabSchedule.objects.get_or_create(
        minute="0", hour="7", day_of_week="*", day_of_month="*", month_of_year="*", timezone="UTC"
    )
    PeriodicTask.objects.get_or_create(
        name=TASK_NAME,
        defaults={"task": "business_intelligence.send_report_summary_notification", "crontab": crontab},
    )


def unschedule_summary(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=TASK_NAME).delete()


class Migration(migrations.Migration):
    dependencies = [("delivery", "0002_retry_deliveries_every_minute")]

    operations = [migrations.RunPython(schedule_summary, unschedule_summary)]
