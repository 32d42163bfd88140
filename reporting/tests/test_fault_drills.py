"""Fault drills for report runs, through real Celery worker processes on the test PostgreSQL and
Redis: a worker killed mid-PDF, a whole worker machine lost, a render longer than the lease.

The test stands in for beat: it runs the every-minute check's sweep every half second, so a
drill shows both that recovery happens and that the sweep never re-queues a live run.
"""

import os
import signal
import subprocess
import time
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from reporting.models import ExecutionStatus, ReportExecution
from reporting.services import executions as executions_module
from reporting.services.executions import SPOOL_SHARE
from reporting.services.recovery import executions_requeue_stale, executions_resend_queued
from reporting.tests.factories import DataSourceFactory, ReportTemplateFactory

pytestmark = pytest.mark.django_db(databases=["default", "reporting"], transaction=True)

BI = "/api/v1/business-intelligence"
ENDED = (ExecutionStatus.SUCCEEDED, ExecutionStatus.FAILED, ExecutionStatus.CANCELLED)


def restart_with(worker, **env: str) -> None:
    worker.stop()
    worker.env.update(env)
    worker.start()


def request_run(organization, analyst, *, query: str, output_format: str) -> ReportExecution:
    source = DataSourceFactory(organization=organization, name="Rows", query=query)
    template = ReportTemplateFactory(
        organization=organization, sources=[source], output_formats=[output_format],
        parameters_schema={"type": "object"}, slug=f"drill-{output_format}",
    )  # fmt: skip
    client = APIClient()
    client.force_authenticate(analyst)
    response = client.post(f"{BI}/report-executions", {"template_id": template.pk}, format="json")
    assert response.status_code == 202, response.content
    return ReportExecution.objects.get(pk=response.json()["id"])


def long_pdf(organization, analyst) -> ReportExecution:
    return request_run(organization, analyst, output_format="pdf", query=(
        "SELECT i AS n, 'Row ' || i AS label, md5(i::text) AS digest "
        "FROM generate_series(1, 2500) AS i"
    ))  # fmt: skip


def wait_for(execution: ReportExecution, condition, *, timeout: float, what: str) -> float:
    started = time.monotonic()
    while not condition(execution):
        if time.monotonic() - started > timeout:
            pytest.fail(f"{what} did not happen within {timeout} s ({execution.status})")
        time.sleep(0.1)
        execution.refresh_from_db()
    return time.monotonic() - started


def rendering(execution: ReportExecution) -> bool:
    return execution.status == ExecutionStatus.RUNNING and execution.progress >= SPOOL_SHARE


class Sweeper:
    """The every-minute check's sweep, run often; remembers every execution it re-queued."""

    def __init__(self):
        self.requeued: list[int] = []

    def until_ended(self, execution: ReportExecution, *, timeout: float) -> list[tuple]:
        """Sweep until the execution ends; the (status, attempt, lease token) states seen."""
        seen, started = [], time.monotonic()
        while execution.status not in ENDED:
            assert time.monotonic() - started < timeout, f"not ended in {timeout} s: {seen}"
            self.requeued += executions_requeue_stale()[0]
            execution.refresh_from_db()
            state = (execution.status, execution.attempts, execution.lease_token)
            if not seen or seen[-1] != state:
                seen.append(state)
            time.sleep(0.5)
        return seen


def descendants(pid: int) -> list[int]:
    children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    found = [int(child) for child in children.split()]
    return found + [grandchild for child in found for grandchild in descendants(child)]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (killed, not yet reaped) is not running.
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split(")")[-1].split()[0] != "Z"


def output_files(report_output_dir, execution) -> list:
    return [p for p in (report_output_dir / execution.organization.slug).rglob("*") if p.is_file()]


def assert_succeeded_once(execution, report_output_dir, *, attempts: int) -> None:
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.SUCCEEDED, execution.error
    assert execution.attempts == attempts
    assert execution.outputs.count() == 1
    files = output_files(report_output_dir, execution)
    assert [file.name for file in files] == [execution.outputs.get().filename]
    assert files[0].read_bytes().startswith(b"%PDF") or execution.outputs.get().format != "pdf"


def test_a_worker_process_killed_mid_pdf_is_taken_over_at_once(
    live_worker, organization, analyst, report_output_dir
):
    """The out-of-memory killer takes the process rendering a PDF. Celery hands its message
    straight back, and the next process takes the run over without waiting for the lease."""
    restart_with(live_worker, REPORT_LEASE_SECONDS="40", REPORT_HEARTBEAT_SECONDS="2")
    execution = long_pdf(organization, analyst)
    wait_for(execution, rendering, timeout=60, what="rendering")
    owner = int(execution.lease_owner.rpartition(":")[2])
    assert owner in descendants(live_worker.process.pid)
    doomed = [owner, *descendants(owner)]
    for pid in doomed:
        os.kill(pid, signal.SIGKILL)
    killed_at = time.monotonic()

    sweeper = Sweeper()
    taken_over = wait_for(execution, lambda e: e.attempts == 2, timeout=30, what="a takeover")
    assert not any(alive(pid) for pid in doomed)  # no second render beside a live first one
    seen = sweeper.until_ended(execution, timeout=90)
    recovered = time.monotonic() - killed_at
    assert sweeper.requeued == []  # the lease (40 s) never ran out: no re-queue was needed
    assert taken_over < 20
    assert_succeeded_once(execution, report_output_dir, attempts=2)
    assert len({token for _, _, token in seen}) == 1  # one lease after the takeover
    print(f"\nworker process killed mid-PDF: taken over in {taken_over:.1f} s, "
          f"succeeded {recovered:.1f} s after the kill")  # fmt: skip


def test_a_worker_machine_lost_mid_pdf_is_run_again_once_its_lease_expires(
    live_worker, organization, analyst, report_output_dir
):
    """The whole worker dies (every process SIGKILLed) and a new one starts: the message stays
    with the dead consumer, so the run's lease expiry and the sweep bring it back."""
    restart_with(live_worker, REPORT_LEASE_SECONDS="8", REPORT_HEARTBEAT_SECONDS="2")
    execution = long_pdf(organization, analyst)
    wait_for(execution, rendering, timeout=60, what="rendering")
    live_worker.kill()
    killed_at = time.monotonic()
    live_worker.start()

    sweeper = Sweeper()
    sweeper.until_ended(execution, timeout=90)
    recovered = time.monotonic() - killed_at
    assert sweeper.requeued == [execution.pk]  # once: the second attempt's lease held
    assert recovered < 90
    assert_succeeded_once(execution, report_output_dir, attempts=2)
    print(f"\nworker machine lost mid-PDF (lease 8 s): succeeded {recovered:.1f} s after the kill")


def test_a_run_longer_than_its_lease_is_never_requeued(
    live_worker, organization, analyst, report_output_dir
):
    """Twelve seconds without a progress step, under a 5-second lease: the heartbeat keeps it."""
    restart_with(live_worker, REPORT_LEASE_SECONDS="5", REPORT_HEARTBEAT_SECONDS="1")
    execution = request_run(organization, analyst, output_format="csv", query=(
        "SELECT 1 AS n, pg_sleep(12)::text AS waited"
    ))  # fmt: skip
    sweeper = Sweeper()
    seen = sweeper.until_ended(execution, timeout=60)
    assert sweeper.requeued == []
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.SUCCEEDED, execution.error
    assert execution.attempts == 1
    assert [status for status, _, _ in seen if status != "queued"] == ["running", "succeeded"]
    assert (execution.finished_at - execution.started_at).total_seconds() > 12


def test_a_broker_outage_delays_runs_and_loses_none(
    live_worker, broker_down, organization, analyst, report_output_dir, monkeypatch
):
    """Redis (the broker) stops for 30 s while people keep asking for reports, and comes back
    empty. Every request is answered 202, and once the broker is back the every-minute check
    sends what it lost: each execution runs once."""
    # The pause after a refused send must not outlive this test (teardown restores this value).
    monkeypatch.setattr(executions_module, "_broker_down_until", 0.0)
    broker_down.start()
    restart_with(live_worker, CELERY_BROKER_URL=broker_down.url,
                 CELERY_RESULT_BACKEND=broker_down.url)  # fmt: skip
    source = DataSourceFactory(organization=organization, name="Rows", query=(
        "SELECT i AS n FROM generate_series(1, 10) AS i"
    ))  # fmt: skip
    template = ReportTemplateFactory(
        organization=organization,
        sources=[source],
        output_formats=["csv"],
        parameters_schema={"type": "object"},
    )
    client = APIClient()
    client.force_authenticate(analyst)
    answers = []

    def submit() -> int:
        response = client.post(f"{BI}/report-executions", {"template_id": template.pk},
                               format="json")  # fmt: skip
        answers.append(response.status_code)
        return response.json()["id"]

    ids = [submit() for _ in range(3)]
    broker_down.stop()
    down_at = time.monotonic()
    while time.monotonic() - down_at < 30:
        ids.append(submit())
        time.sleep(3)
    broker_down.start()
    back_at = time.monotonic()
    assert answers == [202] * len(ids)

    # The every-minute check sends at once what the broker refused (by then the senders' pause
    # after a refusal is over) ...
    monkeypatch.setattr(executions_module, "_broker_down_until", 0.0)
    refused = ids[3:]
    assert sorted(executions_resend_queued()) == refused
    # ... and, a minute after their send, the ones it took and then lost with its memory.
    lost = list(ReportExecution.objects.filter(pk__in=ids[:3], status="queued").values_list("pk"))
    a_minute_later = timezone.now() + timedelta(seconds=61)
    assert len(executions_resend_queued(now=a_minute_later)) >= len(lost)
    executions = ReportExecution.objects.filter(pk__in=ids)
    deadline = time.monotonic() + 90
    while executions.exclude(status=ExecutionStatus.SUCCEEDED).exists():
        assert time.monotonic() < deadline, list(
            executions.exclude(status=ExecutionStatus.SUCCEEDED).values(
                "pk", "status", "enqueued_at", "attempts", "error"
            )
        )
        time.sleep(0.5)
    recovered = time.monotonic() - back_at
    later = timezone.now() + timedelta(seconds=600)  # a later check has nothing left to do
    assert executions_requeue_stale(now=later)[0] + executions_resend_queued(now=later) == []
    assert ReportExecution.objects.filter(template=template).count() == len(ids)
    assert set(executions.values_list("attempts", flat=True)) == {1}
    assert all(e.outputs.count() == 1 for e in executions)
    print(f"\nbroker down 30 s: {len(ids)} executions, all 202, all succeeded "
          f"{recovered:.1f} s after it came back")  # fmt: skip
