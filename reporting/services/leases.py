"""A running execution's lease: who runs it, until when, and the fence on what it writes.

Claiming a run takes a fresh token and an expiry `REPORT_LEASE_SECONDS` ahead; a heartbeat
thread renews it every `REPORT_HEARTBEAT_SECONDS` for the whole run (a long PDF render too, not
only at progress steps). Every write of the attempt (progress, outputs, its end) is an UPDATE
conditional on the execution still running under that token, so an attempt that lost its lease
(cancelled, or taken over after its worker was thought gone) changes nothing of the live one.

A run can be taken over when its lease has expired, or at once when its worker is known to be
gone: a prefork child killed by the out-of-memory killer on this host, whose message Celery
hands straight back (`reject_on_worker_lost`).
"""

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TypeVar

from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, connection
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from reporting.models import ExecutionStatus, ReportExecution

log = logging.getLogger(__name__)

T = TypeVar("T")
_HELD_HERE: set[uuid.UUID] = set()  # tokens whose runs are alive in this process


@dataclass
class Lease:
    execution_id: int
    token: uuid.UUID
    attempt: int
    expires_at: datetime
    lost: bool = False
    _outage: bool = field(default=False, repr=False)

    def fence(self) -> QuerySet:
        """The execution, as long as this attempt still holds it."""
        return ReportExecution.objects.filter(
            pk=self.execution_id, status=ExecutionStatus.RUNNING, lease_token=self.token
        )

    def renew(self) -> bool:
        """Push the expiry ahead; False once the lease is lost (cancelled or taken over)."""
        now = timezone.now()
        expires_at = now + timedelta(seconds=settings.REPORT_LEASE_SECONDS)
        try:
            held = self.fence().update(heartbeat_at=now, lease_expires_at=expires_at)
        except DatabaseError as error:
            self._database_down(error)
            return True
        if self._outage:
            log.warning("Execution %s: the database answers again.", self.execution_id)
            self._outage = False
        if held:
            self.expires_at = expires_at
        else:
            self.lost = True
        return bool(held)

    def write(self, action: Callable[[], T]) -> T:
        """Run a fenced write, retrying through a database outage while the lease lasts."""
        while True:
            try:
                return action()
            except (OperationalError, InterfaceError) as error:
                if connection.in_atomic_block or timezone.now() >= self.expires_at:
                    raise
                self._database_down(error)
                time.sleep(1)

    def _database_down(self, error: Exception) -> None:
        if not self._outage:
            log.warning(
                "Execution %s: the database is unavailable (%s); retrying until its lease "
                "expires at %s.",
                self.execution_id,
                str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__,
                self.expires_at.isoformat(),
            )
            self._outage = True
        connection.close()  # the next try reconnects


def lease_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def lease_claim(*, execution_id: int) -> Lease | None:
    """queued -> running under a new lease; or take over a run whose lease expired or whose
    worker is gone. None when someone else holds it or it has ended."""
    now = timezone.now()
    current = (
        ReportExecution.objects.filter(pk=execution_id)
        .values("status", "lease_token", "lease_owner", "lease_expires_at", "attempts")
        .first()
    )
    if current is None:
        return None
    if current["status"] == ExecutionStatus.QUEUED:
        claimable = Q(status=ExecutionStatus.QUEUED)
    elif current["status"] == ExecutionStatus.RUNNING and _abandoned(current, now):
        if current["attempts"] >= settings.REPORT_MAX_ATTEMPTS:
            return None  # the every-minute check fails it for good
        claimable = Q(status=ExecutionStatus.RUNNING, lease_token=current["lease_token"])
    else:
        return None
    token = uuid.uuid4()
    expires_at = now + timedelta(seconds=settings.REPORT_LEASE_SECONDS)
    claimed = ReportExecution.objects.filter(claimable, pk=execution_id).update(
        status=ExecutionStatus.RUNNING,
        started_at=now,
        heartbeat_at=now,
        lease_token=token,
        lease_owner=lease_owner(),
        lease_expires_at=expires_at,
        attempts=F("attempts") + 1,
        progress=0,
        error="",
    )
    if not claimed:
        return None
    if current["status"] == ExecutionStatus.RUNNING:
        log.warning(
            "Execution %s: taking over from %s, whose worker is gone or whose lease expired.",
            execution_id,
            current["lease_owner"] or "an unknown worker",
        )
    return Lease(execution_id, token, current["attempts"] + 1, expires_at)


def _abandoned(current: dict, now: datetime) -> bool:
    expires_at = current["lease_expires_at"]
    if expires_at is None or expires_at < now:
        return True
    host, _, pid = (current["lease_owner"] or "").rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False  # another machine's worker: only the expiry tells
    if int(pid) == os.getpid():
        return current["lease_token"] not in _HELD_HERE
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class Heartbeat:
    """Renews a lease from a thread of its own until stopped or the lease is lost."""

    def __init__(self, lease: Lease):
        self.lease = lease
        self._stopped = threading.Event()
        self._thread = threading.Thread(
            target=self._beat, name=f"lease-{lease.execution_id}", daemon=True
        )

    def __enter__(self) -> "Heartbeat":
        _HELD_HERE.add(self.lease.token)
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stopped.set()
        self._thread.join(timeout=settings.REPORT_HEARTBEAT_SECONDS + 5)
        _HELD_HERE.discard(self.lease.token)

    def _beat(self) -> None:
        try:
            while not self._stopped.wait(settings.REPORT_HEARTBEAT_SECONDS):
                if not self.lease.renew():
                    return
        finally:
            connection.close()  # this thread's own connection
