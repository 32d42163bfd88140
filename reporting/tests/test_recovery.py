"""Executions whose worker died are put back, or given up for good."""

from datetime import UTC, datetime, timedelta

from reporting.models import ExecutionStatus, ReportExecution
from reporting.services.recovery import executions_requeue_stale


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_a_stale_execution_is_queued_again_then_given_up(billing_template, settings):
    settings.REPORT_MAX_ATTEMPTS = 2
    now = utc(2025, 5, 5, 12)
    lost = ReportExecution.objects.create(
        organization=billing_template.organization, template=billing_template, status="running",
        attempts=1, lease_expires_at=now - timedelta(seconds=1),
    )  # fmt: skip
    alive = ReportExecution.objects.create(
        organization=billing_template.organization, template=billing_template, status="running",
        attempts=1, lease_expires_at=now + timedelta(seconds=30),
    )  # fmt: skip
    assert executions_requeue_stale(now=now) == ([lost.pk], [])
    lost.refresh_from_db()
    assert lost.status == ExecutionStatus.QUEUED
    ReportExecution.objects.filter(pk=lost.pk).update(
        status="running", attempts=2, lease_expires_at=now - timedelta(seconds=1)
    )
    assert executions_requeue_stale(now=now) == ([], [lost.pk])
    lost.refresh_from_db()
    assert lost.status == ExecutionStatus.FAILED
    assert "stopped 2 times" in lost.error
    alive.refresh_from_db()
    assert alive.status == ExecutionStatus.RUNNING
