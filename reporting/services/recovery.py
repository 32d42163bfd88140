"""Putting back executions whose worker died."""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from reporting.models import ExecutionStatus, ReportExecution
from reporting.services.executions import enqueue_on_commit

log = logging.getLogger(__name__)


def executions_requeue_stale(*, now: datetime | None = None) -> tuple[list[int], list[int]]:
    """Running executions whose heartbeat stopped: queue them again, or fail them for good.

    Returns (requeued ids, failed ids). Conditional updates: an execution that beats again
    between the two queries is left alone.
    """
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.REPORT_STALE_AFTER)
    stale = ReportExecution.objects.filter(status=ExecutionStatus.RUNNING, heartbeat_at__lt=cutoff)
    found = list(stale.values_list("pk", "attempts"))
    again = [pk for pk, attempts in found if attempts < settings.REPORT_MAX_ATTEMPTS]
    give_up = [pk for pk, attempts in found if attempts >= settings.REPORT_MAX_ATTEMPTS]
    with transaction.atomic():
        stale.filter(pk__in=again).update(status=ExecutionStatus.QUEUED, progress=0)
        stale.filter(pk__in=give_up).update(
            status=ExecutionStatus.FAILED,
            finished_at=now,
            error=(
                f"The worker running this report stopped {settings.REPORT_MAX_ATTEMPTS} times "
                "(killed or lost); it was not retried again."
            ),
        )
        for execution in ReportExecution.objects.filter(pk__in=again):
            enqueue_on_commit(execution)
    if found:
        log.warning("Stale executions: requeued %s, failed %s.", again, give_up)
    return again, give_up
