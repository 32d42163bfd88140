"""The every-minute backstop: runs whose lease expired are queued again (or given up), and
queued executions whose message was lost are sent again.

Most recoveries do not wait for it: a message Celery hands back because a worker process died
is taken over at once (reporting.services.leases). This covers the rest: a whole worker machine
lost (its lease expires), and messages the broker lost (an outage without persistence).
"""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from config.outbox import resend_due
from delivery.services import deliveries_settle
from reporting.models import ExecutionStatus, ReportExecution
from reporting.services.executions import enqueue_on_commit, executions_send
from reporting.services.search_sync import search_sync_on_commit

log = logging.getLogger(__name__)

RESEND_BATCH = 5000


def executions_requeue_stale(*, now: datetime | None = None) -> tuple[list[int], list[int]]:
    """Running executions whose lease expired: queue them again, or fail them for good.

    Returns (requeued ids, failed ids). Conditional updates: a run that renews its lease
    between the two queries is left alone.
    """
    now = now or timezone.now()
    stale = ReportExecution.objects.filter(status=ExecutionStatus.RUNNING, lease_expires_at__lt=now)
    found = list(stale.values_list("pk", "attempts"))
    again = [pk for pk, attempts in found if attempts < settings.REPORT_MAX_ATTEMPTS]
    give_up = [pk for pk, attempts in found if attempts >= settings.REPORT_MAX_ATTEMPTS]
    with transaction.atomic():
        stale.filter(pk__in=again).update(
            status=ExecutionStatus.QUEUED, progress=0, lease_expires_at=None, enqueued_at=now
        )
        given_up = list(stale.filter(pk__in=give_up).values_list("pk", flat=True))
        stale.filter(pk__in=given_up).update(
            status=ExecutionStatus.FAILED,
            finished_at=now,
            lease_expires_at=None,
            error=(
                f"The worker running this report stopped {settings.REPORT_MAX_ATTEMPTS} times "
                "(killed or lost); it was not retried again."
            ),
        )
        deliveries_settle(execution_ids=given_up, reason="Nothing to deliver: the report failed.")
        ended = ReportExecution.objects.filter(pk__in=again + given_up)
        enqueue_on_commit(*(e for e in ended if e.status == ExecutionStatus.QUEUED))
        for execution in ended:
            if execution.status != ExecutionStatus.QUEUED:
                search_sync_on_commit(execution)
    if found:
        log.warning("Runs whose lease expired: requeued %s, failed %s.", again, given_up)
    return again, given_up


def executions_resend_queued(*, now: datetime | None = None) -> list[int]:
    """Queued executions whose send the broker refused, or not claimed since their message was
    sent: send them again.

    Refused ones go at once. Otherwise the first resend comes REPORT_RESEND_AFTER seconds after
    the send, then after waits that double (config.outbox), so a long queue of work
    behind busy workers is not flooded with copies. A copy that arrives after the run started
    is a no-op (the claim).
    """
    now = now or timezone.now()
    first_wait = timedelta(seconds=settings.REPORT_RESEND_AFTER)
    queued = ReportExecution.objects.filter(
        Q(enqueued_at__lte=now - first_wait) | Q(enqueued_at=None), status=ExecutionStatus.QUEUED
    ).order_by("enqueued_at")
    rows = queued.values_list("pk", "celery_task_id", "queued_at", "enqueued_at")[:RESEND_BATCH]
    due = [
        (pk, task_id)
        for pk, task_id, queued_at, enqueued_at in rows
        if resend_due(now=now, waiting_since=queued_at, sent_at=enqueued_at)
    ]
    ids = [pk for pk, _ in due]
    ReportExecution.objects.filter(pk__in=ids, status=ExecutionStatus.QUEUED).update(
        enqueued_at=now
    )
    if due:
        sent = executions_send(due)
        log.warning("Queued executions sent again (%d of %d taken): %s", sent, len(due), ids)
    return ids
