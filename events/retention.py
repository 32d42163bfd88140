"""Usage events older than ANALYTICS_EVENT_RETENTION_DAYS are deleted; 0 keeps them for ever.
The fact tables (sessions, inventory, projects, revenue) have no retention: they are kept.

On PostgreSQL, each monthly partition wholly before the cutoff is detached and dropped (no row is
read or deleted one by one); the rows before the cutoff that are left (the month the cutoff falls
in, the default partition) are deleted in batches, their keys with them (by trigger); last, the
dropped months' keys go (events/partitions.py). SQLite deletes in batches.
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from events import partitions
from events.models import UsageEvent
from events.partitions import EVENTS

PURGE_BATCH = 5000  # rows per DELETE, so no single statement holds locks for long


def events_purge(*, now: datetime | None = None) -> int:
    days = settings.ANALYTICS_EVENT_RETENTION_DAYS
    if not days:
        return 0
    cutoff = (now or timezone.now()) - timedelta(days=days)
    purged = 0
    if partitions.is_partitioned(EVENTS):
        purged += _partitions_drop(cutoff)
    old = UsageEvent.objects.filter(timestamp__lt=cutoff)
    while ids := list(old.values_list("pk", flat=True)[:PURGE_BATCH]):
        # With the time too, the DELETE reads only the partitions before the cutoff.
        purged += old.filter(pk__in=ids).delete()[0]
    if partitions.is_partitioned(EVENTS):
        partitions.keys_delete(EVENTS, before=cutoff)  # left by dropped months (or a failed run)
    return purged


def _partitions_drop(cutoff: datetime) -> int:
    dropped = 0
    for partition in partitions.partitions_list(EVENTS):
        if partition.end <= cutoff:
            dropped += partitions.partition_drop(EVENTS, partition)
            partitions.keys_delete(EVENTS, before=partition.end, after=partition.start)
    return dropped
