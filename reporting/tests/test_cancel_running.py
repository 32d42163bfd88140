"""A running execution that is cancelled stays cancelled: whatever its attempt does afterwards
(fail or finish) changes nothing and leaves no outputs."""

import pytest

from reporting.models import ExecutionStatus, ReportOutput
from reporting.services import executions
from reporting.services.executions import SPOOL_SHARE, execution_cancel, execution_run
from reporting.tests.factories import DataSourceFactory, ReportTemplateFactory
from reporting.tests.test_executions import MARCH, request_run

pytestmark = [
    pytest.mark.usefixtures("report_output_dir"),
    # Report SQL reads committed rows through the `reporting` alias's own connection.
    pytest.mark.django_db(databases=["default", "reporting"], transaction=True),
]


def assert_still_cancelled(execution, cancelled_at, output_dir):
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.CANCELLED
    assert execution.error == ""
    assert execution.finished_at == cancelled_at
    assert not ReportOutput.objects.filter(execution=execution).exists()
    assert not [p for p in output_dir.rglob("*") if p.is_file()]


def test_a_failure_after_a_cancel_leaves_the_execution_cancelled(
    organization, viewer, report_output_dir
):
    good = DataSourceFactory(organization=organization)
    broken = DataSourceFactory(organization=organization, query="SELECT x FROM nowhere")
    template = ReportTemplateFactory(organization=organization, sources=[good, broken])
    execution = request_run(template, viewer, parameters=MARCH)
    cancelled_at = []

    def on_progress(reached):
        # The first source is spooled; the user cancels before the second one fails.
        cancelled = execution_cancel(execution=execution, user=viewer)
        cancelled_at.append(cancelled.finished_at)

    execution_run(execution_id=execution.pk, on_progress=on_progress)
    assert len(cancelled_at) == 1  # cancelled once, while running
    assert_still_cancelled(execution, cancelled_at[0], report_output_dir)


def test_a_finish_after_a_cancel_changes_nothing(
    billing_template, viewer, report_output_dir, monkeypatch
):
    # No progress write during the render, so the only step left to notice the cancel is the
    # attempt's finish, after its file is already in storage.
    monkeypatch.setattr(executions, "PROGRESS_SAVE_INTERVAL", 3600)
    execution = request_run(billing_template, viewer)
    reports, cancelled_at = [], []

    def on_progress(reached):
        reports.append(reached)
        if reports == [SPOOL_SHARE, SPOOL_SHARE]:  # data fetched, then the render phase began
            cancelled_at.append(execution_cancel(execution=execution, user=viewer).finished_at)

    execution_run(execution_id=execution.pk, on_progress=on_progress)
    assert len(cancelled_at) == 1
    assert_still_cancelled(execution, cancelled_at[0], report_output_dir)
    assert execution.progress < 100  # refreshed above: the finish never wrote its 100
