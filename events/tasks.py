from celery import shared_task

from events.partitions import is_partitioned, partitions_ensure
from events.retention import events_purge


@shared_task(name="analytics.purge_old_events", ignore_result=True)
def purge_old_events() -> int:
    """Daily: usage events past ANALYTICS_EVENT_RETENTION_DAYS (nothing when it is 0)."""
    return events_purge()


@shared_task(name="analytics.ensure_event_partitions", ignore_result=True)
def ensure_event_partitions() -> list[str]:
    """Daily: this month's usage-event partition and the next few, on PostgreSQL."""
    return partitions_ensure() if is_partitioned() else []
