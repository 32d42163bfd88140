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
