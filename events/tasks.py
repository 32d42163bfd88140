from celery import shared_task

from events.retention import events_purge


@shared_task(name="analytics.purge_old_events", ignore_result=True)
def purge_old_events() -> int:
    """Daily: usage events past ANALYTICS_EVENT_RETENTION_DAYS (nothing when it is 0)."""
    return events_purge()
