from celery import shared_task

from events.partitions import partitions_ensure
from events.retention import events_purge


@shared_task(name="analytics.purge_old_events", ignore_result=True)
def purge_old_events() -> int:
    """Daily: usage events past ANALYTICS_EVENT_RETENTION_DAYS (nothing when it is 0)."""
    return events_purge()


@shared_task(name="analytics.ensure_event_partitions", ignore_result=True)
def ensure_event_partitions() -> list[str]:
    """Daily, on PostgreSQL: this month's partition and the next few of every partitioned
    table (usage events, equipment sessions, inventory, revenue)."""
    return partitions_ensure()
