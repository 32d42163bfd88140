"""Usage events older than ANALYTICS_EVENT_RETENTION_DAYS are deleted; 0 keeps them for ever."""

from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from events.models import UsageEvent

PURGE_BATCH = 5000  # rows per DELETE, so no single statement holds locks for long


def events_purge(*, now: datetime | None = None) -> int:
    days = settings.ANALYTICS_EVENT_RETENTION_DAYS
    if not days:
        return 0
    cutoff = (now or timezone.now()) - timedelta(days=days)
    old = UsageEvent.objects.filter(timestamp__lt=cutoff)
    purged = 0
    while ids := list(old.values_list("pk", flat=True)[:PURGE_BATCH]):
        purged += UsageEvent.objects.filter(pk__in=ids).delete()[0]
    return purged
