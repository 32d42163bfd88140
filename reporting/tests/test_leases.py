"""Leases and the outbox of report executions, in this process: who may take a run over, what a
superseded attempt may still write, and what happens to a message the broker never took."""

import logging
import socket
import subprocess
import uuid
from datetime import timedelta

import pytest
import time_machine
from django.core.files.base import ContentFile
from django.db.models import F
from django.utils import timezone

from conftest import broker_messages
from delivery.services import target_create
from reporting.models import ExecutionStatus, ReportExecution, ReportOutput, report_storage
from reporting.services import executions
from reporting.services.executions import SPOOL_SHARE, execution_cancel, execution_run
from reporting.services.leases import Heartbeat, lease_claim
from reporting.services.recovery import executions_requeue_stale, executions_resend_queued
from reporting.tests.test_executions import MARCH, request_run, runs_reports

EXECUTIONS = "/api/v1/business-intelligence/report-executions"

pytestmark = pytest.mark.usefixtures("report_output_dir")


def held_by(execution, owner: str, *, expires_in: float) -> None:
    """The execution runs, another attempt of it, under someone else's lease."""
    ReportExecution.objects.filter(pk=execution.pk).update(
        status=ExecutionStatus.RUNNING,
        attempts=F("attempts") + 1,
        lease_token=uuid.uuid4(),
        lease_owner=owner,
        lease_expires_at=timezone.now() + timedelta(seconds=expires_in),
    )


def dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


@pytest.mark.django_db
def test_a_run_is_taken_over_only_when_its_lease_expired_or_its_worker_is_gone(
    billing_template, viewer, settings
):
    settings.REPORT_MAX_ATTEMPTS = 10
    here = socket.gethostname()
    execution = request_run(billing_template, viewer, parameters=MARCH)
    held_by(execution, "other-machine:1", expires_in=30)
    assert lease_claim(execution_id=execution.pk) is None  # alive, as far as anyone can tell

    held_by(execution, f"{here}:{dead_pid()}", expires_in=30)
    taken = lease_claim(execution_id=execution.pk)  # its process on this machine is gone
    assert taken.attempt == 3

    with Heartbeat(taken):  # this process runs it
        assert lease_claim(execution_id=execution.pk) is None
    held_by(execution, "other-machine:1", expires_in=-1)
    assert lease_claim(execution_id=execution.pk).attempt == 5  # its lease ran out


@pytest.mark.django_db
def test_the_last_attempt_is_not_taken_over_but_given_up_with_its_deliveries(
    billing_template, viewer, organization, settings
):
    settings.REPORT_MAX_ATTEMPTS = 1
    target = target_create(organization=organization, created_by=None, name="Finance",
                           kind="email", config={"recipients": ["ana@acme.test"]})  # fmt: skip
    execution = request_run(billing_template, viewer, parameters=MARCH, delivery_targets=[target])
    held_by(execution, "other-machine:1", expires_in=-1)
    assert lease_claim(execution_id=execution.pk) is None
    assert executions_requeue_stale() == ([], [execution.pk])
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.FAILED
    [delivery] = execution.deliveries.all()
    assert (delivery.status, delivery.last_error) == (
        "skipped", "Nothing to deliver: the report failed."
    )  # fmt: skip


@pytest.mark.django_db
def test_cancelling_a_queued_execution_skips_its_deliveries(billing_template, viewer, organization):
    target = target_create(organization=organization, created_by=None, name="Finance",
                           kind="email", config={"recipients": ["ana@acme.test"]})  # fmt: skip
    execution = request_run(billing_template, viewer, parameters=MARCH, delivery_targets=[target])
    execution_cancel(execution=execution, user=viewer)
    [delivery] = execution.deliveries.all()
    assert (delivery.status, delivery.last_error) == ("skipped", "The report was cancelled.")


def take_over(execution) -> str:
    """Another worker takes the run over and has already stored a file of its own."""
    ReportExecution.objects.filter(pk=execution.pk).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1)
    )
    lease = lease_claim(execution_id=execution.pk)
    folder = f"{execution.organization.slug}/{execution.pk}/{lease.token.hex}"
    return report_storage().save(f"{folder}/live.csv", ContentFile(b"the live attempt's file"))


def assert_untouched_by_the_superseded_attempt(execution, live_file: str) -> None:
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.RUNNING
    assert execution.attempts == 2
    assert not ReportOutput.objects.filter(execution=execution).exists()
    with report_storage().open(live_file) as file:
        assert file.read() == b"the live attempt's file"
    assert _tree(execution) == [live_file]


def _tree(execution) -> list[str]:
    storage, folder, found = report_storage(), f"{execution.organization.slug}/{execution.pk}", []
    for name in storage.listdir(folder)[0]:
        found += [f"{folder}/{name}/{file}" for file in storage.listdir(f"{folder}/{name}")[1]]
    return found


@runs_reports
def test_a_superseded_attempt_stops_at_its_next_step_and_keeps_its_hands_off(
    billing_template, viewer
):
    execution = request_run(billing_template, viewer, parameters=MARCH)
    live = []

    def on_progress(reached):
        if not live:
            live.append(take_over(execution))

    assert execution_run(execution_id=execution.pk, on_progress=on_progress) is None
    assert_untouched_by_the_superseded_attempt(execution, live[0])


@runs_reports
def test_a_superseded_attempt_cannot_finish_nor_delete_the_live_attempts_files(
    billing_template, viewer, monkeypatch
):
    # No progress write during the render: the attempt's finish is the first to meet the fence,
    # after its own file is in storage.
    monkeypatch.setattr(executions, "PROGRESS_SAVE_INTERVAL", 3600)
    execution = request_run(billing_template, viewer, parameters=MARCH)
    reports, live = [], []

    def on_progress(reached):
        reports.append(reached)
        if reports == [SPOOL_SHARE, SPOOL_SHARE]:  # the render began
            live.append(take_over(execution))

    assert execution_run(execution_id=execution.pk, on_progress=on_progress) is None
    assert_untouched_by_the_superseded_attempt(execution, live[0])


@pytest.mark.django_db
def test_a_queued_execution_is_sent_again_after_waits_that_double(billing_template, viewer):
    queued_at = timezone.now()
    with time_machine.travel(queued_at, tick=False):
        execution = request_run(billing_template, viewer, parameters=MARCH)

    def resent_at(seconds: int) -> bool:
        return executions_resend_queued(now=queued_at + timedelta(seconds=seconds)) != []

    sends = [second for second in range(0, 1200, 10) if resent_at(second)]
    assert sends == [60, 120, 240, 480, 780, 1080]  # 1, 2, 4, 8 minutes, then every 5
    execution.refresh_from_db()
    assert execution.enqueued_at == queued_at + timedelta(seconds=1080)


@pytest.mark.django_db(transaction=True)
def test_the_api_answers_202_while_the_broker_is_down_and_the_check_sends_it_later(
    broker_down, analyst_client, billing_template, caplog, monkeypatch
):
    # The pause after a refused send must not outlive this test (teardown restores this value).
    monkeypatch.setattr(executions, "_broker_down_until", 0.0)
    with caplog.at_level(logging.WARNING):
        response = analyst_client.post(
            EXECUTIONS, {"template_id": billing_template.pk, "parameters": MARCH}, format="json"
        )
    assert response.status_code == 202, response.content
    execution = ReportExecution.objects.get(pk=response.json()["id"])
    assert execution.status == ExecutionStatus.QUEUED
    assert f"The broker did not take execution {execution.pk}" in caplog.text

    broker_down.start()  # back, empty
    monkeypatch.setattr(executions, "_broker_down_until", 0.0)  # no pause before trying again
    execution.refresh_from_db()
    assert execution.enqueued_at is None  # no send on record: the next check sends it at once
    assert executions_resend_queued() == [execution.pk]
    assert broker_messages("business_intelligence.process_report_execution") == [execution.pk]
