import pytest
from django.test import Client

from accounts.tests.factories import UserFactory
from reporting.models import ReportAccessLog, ReportExecution


@pytest.fixture
def staff(db):
    client = Client()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def test_run_now_form_is_generated_from_the_parameter_schema(staff, billing_template):
    page = staff.get(f"/admin/reporting/reporttemplate/{billing_template.pk}/run/")
    assert page.status_code == 200
    html = page.content.decode()
    for field in ('name="month"', 'name="year"', 'name="rows"', 'name="output_formats"'):
        assert field in html
    assert 'value="3"' in html  # the schema's default for rows


def test_run_now_queues_an_execution_triggered_from_the_admin(
    staff, billing_template, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as enqueued:
        response = staff.post(
            f"/admin/reporting/reporttemplate/{billing_template.pk}/run/",
            {"month": "03", "year": "2025", "rows": "2", "output_formats": ["csv"]},
        )
    execution = ReportExecution.objects.get()
    assert response.status_code == 302
    assert response["Location"].endswith(f"/admin/reporting/reportexecution/{execution.pk}/change/")
    assert (execution.trigger, execution.parameters) == (
        "admin",
        {"month": "03", "year": 2025, "rows": 2},
    )
    assert len(enqueued) == 1


def test_run_now_shows_parameter_errors_on_their_fields(staff, billing_template):
    response = staff.post(
        f"/admin/reporting/reporttemplate/{billing_template.pk}/run/",
        {"month": "13", "year": "2025", "output_formats": ["csv"]},
    )
    assert response.status_code == 200
    assert "is not a &#x27;month&#x27;" in response.content.decode()
    assert not ReportExecution.objects.exists()


def test_executions_list_shows_status_progress_and_row_count(staff, billing_template):
    ReportExecution.objects.create(
        organization=billing_template.organization,
        template=billing_template,
        status="running",
        progress=40,
        row_count=1234,
    )
    html = staff.get("/admin/reporting/reportexecution/").content.decode()
    assert '<progress max="100" value="40"' in html
    assert "1234" in html
    assert "running" in html


def test_template_admin_refuses_a_broken_schema(staff, billing_template):
    url = f"/admin/reporting/reporttemplate/{billing_template.pk}/change/"
    response = staff.post(
        url,
        {
            "organization": billing_template.organization.pk,
            "name": "X",
            "slug": "x",
            "report_type": "financial",
            "output_formats": '["csv"]',
            "parameters_schema": '{"type": "object", "properties": {"year": {"type": 5}}}',
            "charts": "[]",
            "sources-TOTAL_FORMS": "0",
            "sources-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 200
    assert "properties/year/type" in response.content.decode()


def test_data_source_preview_page(staff, organization):
    from reporting.tests.factories import DataSourceFactory

    members = DataSourceFactory(
        organization=organization,
        source_type="dataset",
        query="",
        config={"dataset": "organization_members"},
    )
    page = staff.post(f"/admin/reporting/datasource/{members.pk}/preview/", {"parameters": "{}"})
    assert page.status_code == 200
    assert "username" in page.content.decode()


def test_the_access_log_is_read_only(staff):
    assert staff.get("/admin/reporting/reportaccesslog/add/").status_code == 403
    assert not ReportAccessLog.objects.exists()


def test_every_reporting_admin_page_renders(staff, billing_template, invoices):
    execution = ReportExecution.objects.create(
        organization=billing_template.organization, template=billing_template
    )
    pages = [
        "/admin/reporting/datasource/",
        f"/admin/reporting/datasource/{invoices.pk}/change/",
        "/admin/reporting/datasource/add/",
        "/admin/reporting/reporttemplate/",
        f"/admin/reporting/reporttemplate/{billing_template.pk}/change/",
        "/admin/reporting/reporttemplate/add/",
        "/admin/reporting/reportexecution/",
        f"/admin/reporting/reportexecution/{execution.pk}/change/",
        "/admin/reporting/reportoutput/",
        "/admin/reporting/reportaccesslog/",
        "/admin/reporting/reportschedule/",
        "/admin/reporting/reportschedule/add/",
        "/admin/reporting/reportusagemetric/",
        "/admin/delivery/deliverytarget/",
        "/admin/delivery/deliverytarget/add/",
        "/admin/delivery/delivery/",
        "/admin/accounts/organization/add/",
    ]
    for page in pages:
        assert staff.get(page).status_code == 200, page


def test_the_schedule_page_shows_the_next_runs_and_saving_it_rebuilds_the_beat_entry(
    staff, billing_template
):
    from django_celery_beat.models import PeriodicTask

    from reporting.services.schedules import schedule_create

    schedule = schedule_create(
        organization=billing_template.organization, owner=None, template=billing_template,
        name="Daily", cron="0 6 * * *", time_zone="Europe/Berlin",
        parameters={"month": "{last_month.month}", "year": "{last_month.year}"},
    )  # fmt: skip
    url = f"/admin/reporting/reportschedule/{schedule.pk}/change/"
    html = staff.get(url).content.decode()
    assert "Next five runs" in html
    assert "CET" in html or "CEST" in html
    PeriodicTask.objects.filter(pk=schedule.periodic_task_id).update(enabled=True, args="[0]")
    response = staff.post(url, {
        "organization": billing_template.organization.pk, "name": "Daily", "template":
        billing_template.pk, "cron": "30 7 * * 1", "time_zone": "Europe/Berlin",
        "parameters": '{"month": "03", "year": 2025}', "output_formats": "[]",
        "catch_up": "latest", "enabled": "", "delivery_targets": [],
    })  # fmt: skip
    assert response.status_code == 302, response.content.decode()[:2000]
    task = PeriodicTask.objects.get(pk=schedule.periodic_task_id)
    assert (task.args, task.enabled, task.crontab.minute, task.crontab.hour) == (
        f"[{schedule.pk}]", False, "30", "7",
    )  # fmt: skip


def test_a_file_source_is_uploaded_in_the_admin(staff, organization, settings, tmp_path):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from reporting.models import DataSource
    from reporting.services.templates import data_source_preview

    settings.MEDIA_ROOT = str(tmp_path)
    response = staff.post("/admin/reporting/datasource/add/", {
        "organization": organization.pk, "name": "Stock", "source_type": "file", "query": "",
        "config": "{}", "file": SimpleUploadedFile("stock.csv", b"item,count\nPLA,12\n"),
    })  # fmt: skip
    assert response.status_code == 302, response.content.decode()[:3000]
    source = DataSource.objects.get(name="Stock")
    assert source.config["upload"] == source.file.name
    assert data_source_preview(data_source=source, parameters={})["rows"] == [["PLA", 12]]


def test_the_schedules_list_shows_each_schedules_last_result(staff, billing_template):
    from datetime import UTC, datetime

    from reporting.services.schedules import schedule_create

    schedule = schedule_create(
        organization=billing_template.organization, owner=None, template=billing_template,
        name="Nightly", cron="0 2 * * *", time_zone="UTC",
        parameters={"month": "03", "year": 2025},
    )  # fmt: skip
    for status, day in (("failed", 1), ("succeeded", 2)):
        ReportExecution.objects.create(
            organization=billing_template.organization, template=billing_template,
            schedule=schedule, status=status, queued_at=datetime(2025, 3, day, 2, tzinfo=UTC),
        )  # fmt: skip
    html = staff.get("/admin/reporting/reportschedule/").content.decode()
    assert "succeeded (2025-03-02 02:00)" in html
    assert "failed (2025-03-01" not in html
