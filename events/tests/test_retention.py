from datetime import UTC, datetime, timedelta

from events.models import UsageEvent
from events.tasks import purge_old_events

NOW = datetime(2025, 6, 1, tzinfo=UTC)


def make(organization, days_ago: int):
    return UsageEvent.objects.create(organization=organization, user_id="u", event_type="login",
                                     event_category="authentication",
                                     timestamp=NOW - timedelta(days=days_ago))  # fmt: skip


def test_events_past_the_retention_are_purged_and_the_rest_kept(organization, settings):
    import time_machine

    old, kept = make(organization, 31), make(organization, 29)
    settings.ANALYTICS_EVENT_RETENTION_DAYS = 0
    with time_machine.travel(NOW):
        assert purge_old_events() == 0  # off by default: nothing is deleted
        settings.ANALYTICS_EVENT_RETENTION_DAYS = 30
        assert purge_old_events() == 1
    assert list(UsageEvent.objects.values_list("pk", flat=True)) == [kept.pk]
    assert not UsageEvent.objects.filter(pk=old.pk).exists()


def test_beat_runs_the_retention_and_the_partitions_ahead_daily(db):
    from django_celery_beat.models import PeriodicTask

    daily = {
        task.task: (task.name, task.crontab.hour, task.crontab.minute)
        for task in PeriodicTask.objects.filter(
            task__in=["analytics.purge_old_events", "analytics.ensure_event_partitions"]
        )
    }
    # Every partitioned table's partitions, not only the events': the name says so.
    assert daily["analytics.ensure_event_partitions"] == (
        "Make monthly partitions ahead (daily)", "2", "30"
    )  # fmt: skip
    assert "analytics.purge_old_events" in daily
