"""A render past REPORT_SOFT_TIME_LIMIT, through a real worker: it ends failed saying why."""

import pytest
from rest_framework.test import APIClient

from reporting.tasks import process_report_execution
from reporting.tests.factories import DataSourceFactory, ReportTemplateFactory
from reporting.tests.test_end_to_end import BI, wait_until_finished


@pytest.fixture
def live_worker_env(monkeypatch) -> dict[str, str]:
    # The sender's limits travel in the message and win over the worker's (Celery's rule), so
    # this process, which sends the run, has the same as the worker.
    monkeypatch.setattr(process_report_execution, "soft_time_limit", 1)
    monkeypatch.setattr(process_report_execution, "time_limit", 30)
    monkeypatch.setattr(process_report_execution, "_exec_options", None)  # Celery's cache of them
    return {"REPORT_SOFT_TIME_LIMIT": "1", "REPORT_TIME_LIMIT": "30"}


@pytest.mark.django_db(databases=["default", "reporting"], transaction=True)
def test_a_render_past_the_soft_time_limit_fails_with_a_readable_error(
    live_worker, organization, analyst
):
    slow = DataSourceFactory(
        organization=organization, name="Slow", query="SELECT 1 AS n FROM pg_sleep(3)"
    )
    template = ReportTemplateFactory(organization=organization, sources=[slow])
    client = APIClient()
    client.force_authenticate(analyst)
    execution = client.post(
        f"{BI}/report-executions",
        {"template_id": template.pk, "parameters": {"month": "03", "year": 2025}},
        format="json",
    )
    assert execution.status_code == 202, execution.json()

    finished = wait_until_finished(client, execution["Location"], timeout=60)
    assert finished["status"] == "failed"
    assert finished["error"] == (
        "The report took longer than REPORT_SOFT_TIME_LIMIT (1 s) and was stopped."
    )
    assert finished["outputs"] == []
