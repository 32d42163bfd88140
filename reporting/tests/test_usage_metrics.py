from datetime import UTC, date, datetime, timedelta

from reporting.models import ReportAccessLog, ReportExecution, ReportUsageMetric
from reporting.tasks import generate_report_usage_metrics
from reporting.tests.factories import ReportTemplateFactory

METRICS = "/api/v1/business-intelligence/usage-metrics"
DAY = date(2025, 3, 4)


def run(template, user, *, seconds: float, status="succeeded", rows=10, at_hour=9):
    started = datetime(2025, 3, 4, at_hour, tzinfo=UTC)
    return ReportExecution.objects.create(
        organization=template.organization, template=template, status=status, row_count=rows,
        requested_by=user, queued_at=started, started_at=started,
        finished_at=started + timedelta(seconds=seconds),
    )  # fmt: skip


def test_daily_figures_per_template(billing_template, viewer, analyst):
    from reporting.services.metrics import usage_metrics_generate

    for seconds in range(1, 21):  # 1 s … 20 s
        run(billing_template, viewer, seconds=seconds)
    run(billing_template, analyst, seconds=100, status="failed", rows=0)
    run(billing_template, viewer, seconds=5, at_hour=23)  # still the 4th (UTC)
    ReportExecution.objects.create(  # the next day: not counted
        organization=billing_template.organization, template=billing_template,
        queued_at=datetime(2025, 3, 5, 0, 0, 1, tzinfo=UTC),
    )  # fmt: skip
    ReportAccessLog.objects.create(
        organization=billing_template.organization, action="download", template=billing_template,
        created_at=datetime(2025, 3, 4, 12, tzinfo=UTC),
    )  # fmt: skip
    [metric] = usage_metrics_generate(day=DAY)
    assert (metric.runs, metric.failures, metric.rows, metric.downloads) == (22, 1, 210, 1)
    assert metric.distinct_users == 2
    durations = sorted([*range(1, 21), 100, 5])
    assert metric.mean_duration_seconds == sum(durations) / 22
    assert metric.p95_duration_seconds == 20  # nearest rank: the 21st of 22
    usage_metrics_generate(day=DAY)  # again: replaces, does not add
    assert ReportUsageMetric.objects.count() == 1


def test_the_task_computes_yesterday(billing_template, viewer):
    import time_machine

    run(billing_template, viewer, seconds=3)
    with time_machine.travel(datetime(2025, 3, 5, 0, 30, tzinfo=UTC)):
        assert generate_report_usage_metrics() == 1
    assert ReportUsageMetric.objects.get().date == DAY


def test_usage_metrics_api_is_scoped_and_filtered(
    analyst_client, viewer_client, billing_template, viewer, other_organization
):
    from reporting.services.metrics import usage_metrics_generate

    run(billing_template, viewer, seconds=3)
    theirs = ReportTemplateFactory(organization=other_organization)
    ReportExecution.objects.create(organization=other_organization, template=theirs,
                                   queued_at=datetime(2025, 3, 4, 8, tzinfo=UTC))  # fmt: skip
    usage_metrics_generate(day=DAY)
    results = analyst_client.get(METRICS, {"date_from": "2025-03-01"}).json()["results"]
    assert [(m["template"], m["runs"]) for m in results] == [(billing_template.pk, 1)]
    assert analyst_client.get(METRICS, {"date_from": "2025-03-05"}).json()["results"] == []
    assert viewer_client.get(METRICS).status_code == 403


def test_an_analyst_does_not_see_the_figures_of_admin_only_templates(
    analyst_client, admin_client_api, billing_template, viewer
):
    from reporting.services.metrics import usage_metrics_generate

    run(billing_template, viewer, seconds=3)
    usage_metrics_generate(day=DAY)
    billing_template.run_role = "admin"
    billing_template.save()
    assert analyst_client.get(METRICS).json()["results"] == []
    [metric] = admin_client_api.get(METRICS).json()["results"]
    assert metric["template"] == billing_template.pk
