"""Many executions sent at once (a catch-up pass after an outage) go to the broker as a few
batches that workers publish, message by message, through the real broker."""

import time

import pytest
from django.db.models import Count, Q

from config.celery import app
from conftest import broker_messages
from reporting.models import ExecutionStatus, ReportExecution
from reporting.services import executions
from reporting.services.executions import execution_request, executions_send
from reporting.tasks import send_report_executions
from reporting.tests.factories import DataSourceFactory, ReportTemplateFactory

PROCESS = "business_intelligence.process_report_execution"
FAN_OUT = "business_intelligence.send_report_executions"


def queued(template, user, count: int) -> list[ReportExecution]:
    return [
        execution_request(
            template=template, parameters={}, requested_by=user, trigger="api", enqueue=False
        )
        for _ in range(count)
    ]


def ours(execution_ids: list[int], runs: list[ReportExecution]) -> list[int]:
    """The ids of `runs` among the messages, sorted: a process an earlier test started (a
    worker restoring its unacknowledged messages) may still publish for executions of its own,
    which CI once saw land between this test's purge and its read."""
    mine = {run.pk for run in runs}
    return sorted(pk for pk in execution_ids if pk in mine)


def messages_of(runs: list[ReportExecution]) -> list[list]:
    return [[run.pk, run.celery_task_id] for run in runs]


@pytest.fixture
def quick_template(organization):
    source = DataSourceFactory(organization=organization, name="Ten", query=(
        "SELECT i AS n FROM generate_series(1, 10) AS i"
    ))  # fmt: skip
    return ReportTemplateFactory(
        organization=organization, sources=[source], output_formats=["csv"],
        parameters_schema={"type": "object"},
    )  # fmt: skip


@pytest.mark.django_db
def test_more_messages_than_a_batch_go_out_as_batches_that_publish_each_one(
    quick_template, analyst, monkeypatch
):
    monkeypatch.setattr(executions, "_broker_down_until", 0.0)
    monkeypatch.setattr(executions, "FAN_OUT_BATCH", 2)
    app.control.purge()
    runs = queued(quick_template, analyst, 5)

    assert executions_send((run.pk, run.celery_task_id) for run in runs) == 5

    # Sorted: the filesystem broker (the embedded default) does not keep the order.
    batches = sorted(broker_messages(FAN_OUT))
    assert batches == [messages_of(runs[:2]), messages_of(runs[2:4]), messages_of(runs[4:])]
    assert ours(broker_messages(PROCESS, timeout=0.5), runs) == []  # nothing sent one by one
    for batch in batches:  # what a worker does with each
        assert send_report_executions(batch) == len(batch)
    assert ours(broker_messages(PROCESS), runs) == [run.pk for run in runs]


@pytest.mark.django_db
def test_a_few_messages_are_sent_one_by_one(quick_template, analyst, monkeypatch):
    monkeypatch.setattr(executions, "_broker_down_until", 0.0)
    app.control.purge()
    runs = queued(quick_template, analyst, 3)

    assert executions_send((run.pk, run.celery_task_id) for run in runs) == 3

    assert ours(broker_messages(PROCESS), runs) == [run.pk for run in runs]
    assert broker_messages(FAN_OUT, timeout=0.5) == []


@pytest.mark.django_db(databases=["default", "reporting"], transaction=True)
def test_a_worker_publishes_the_batches_and_runs_every_execution_once(
    live_worker, quick_template, analyst, monkeypatch
):
    monkeypatch.setattr(executions, "_broker_down_until", 0.0)
    monkeypatch.setattr(executions, "FAN_OUT_BATCH", 2)
    runs = queued(quick_template, analyst, 5)

    assert executions_send((run.pk, run.celery_task_id) for run in runs) == 5

    mine = ReportExecution.objects.filter(pk__in=[run.pk for run in runs])
    deadline = time.monotonic() + 60
    while mine.exclude(status=ExecutionStatus.SUCCEEDED).exists():
        assert time.monotonic() < deadline, list(mine.values("pk", "status", "error"))
        time.sleep(0.3)
    ran = mine.aggregate(once=Count("pk", filter=Q(attempts=1)), outputs=Count("outputs"))
    assert ran == {"once": 5, "outputs": 5}
