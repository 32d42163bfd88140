"""The demo has schedules: made by the real service, in the organisation's time zone, once;
the billing summary delivers into the demo's local folder."""

import io
from datetime import UTC, datetime

import pytest
import time_machine
from django.core.management import call_command
from django_celery_beat.models import PeriodicTask
from openpyxl import load_workbook

from delivery.models import Delivery, DeliveryStatus, DeliveryTarget
from delivery.samples import sample_delivery_target_load
from delivery.services import delivery_attempt
from reporting.models import ExecutionStatus, ReportSchedule
from reporting.services.executions import execution_run
from reporting.services.samples import sample_reports_load, sample_schedules_load
from reporting.services.schedules import schedule_run_due

BILLING = "Monthly billing summary on the 1st at 07:00"
MEMBERS = "Members list every Monday at 08:00"


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture
def berlin(organization):
    organization.time_zone = "Europe/Berlin"
    organization.save(update_fields=["time_zone"])
    return organization


@pytest.fixture
def demo_schedules(berlin):
    with time_machine.travel(utc(2026, 3, 15, 12), tick=False):
        sample_reports_load(organization=berlin)
        target, _ = sample_delivery_target_load(organization=berlin)
        schedules = sample_schedules_load(organization=berlin, delivery_targets=[target])
    return {schedule.name: schedule for schedule in schedules}


def test_billing_summary_runs_on_the_first_at_seven_in_the_organisations_zone(demo_schedules):
    billing = demo_schedules[BILLING]
    assert billing.enabled
    assert (billing.cron, billing.time_zone) == ("0 7 1 * *", "Europe/Berlin")
    # 07:00 in Berlin on 1 April is 05:00 UTC (summer time since 29 March).
    assert billing.next_run_at == utc(2026, 4, 1, 5, 0)
    assert billing.template.slug == "monthly-billing-summary"
    task = PeriodicTask.objects.get(pk=billing.periodic_task_id)
    assert task.enabled
    assert (task.crontab.hour, task.crontab.day_of_month) == ("7", "1")
    assert str(task.crontab.timezone) == "Europe/Berlin"


def test_billing_run_on_the_first_reports_the_month_before(demo_schedules):
    billing = demo_schedules[BILLING]
    with time_machine.travel(utc(2026, 4, 1, 5, 0, 30), tick=False):
        [execution] = schedule_run_due(schedule_id=billing.pk)
    assert execution.slot_at == utc(2026, 4, 1, 5, 0)
    assert execution.parameters == {"month": "03", "year": 2026}
    assert execution.output_formats == ["pdf", "xlsx"]


def test_the_billing_summary_delivers_to_the_demo_folder_and_the_members_list_nowhere(
    demo_schedules,
):
    [target] = demo_schedules[BILLING].delivery_targets.all()
    assert (target.name, target.kind) == ("Demo folder", "storage")
    assert target.config["backend"] == "local"
    assert target.config["path"] == "demo"
    assert not demo_schedules[MEMBERS].delivery_targets.exists()


def test_the_demo_target_is_created_once_and_a_changed_one_is_kept(berlin, delivery_root):
    first, created = sample_delivery_target_load(organization=berlin)
    assert created
    DeliveryTarget.objects.filter(pk=first.pk).update(enabled=False)
    second, created_again = sample_delivery_target_load(organization=berlin)
    assert (second.pk, created_again, second.enabled) == (first.pk, False, False)
    assert DeliveryTarget.objects.filter(organization=berlin).count() == 1


@pytest.mark.django_db(databases=["default", "reporting"], transaction=True)
def test_the_billing_slot_writes_its_files_into_the_demo_folder(
    demo_schedules, berlin, delivery_root, report_output_dir
):
    billing = demo_schedules[BILLING]
    with time_machine.travel(utc(2026, 4, 1, 5, 0, 30)):
        [execution] = schedule_run_due(schedule_id=billing.pk)
        execution_run(execution_id=execution.pk)
        execution.refresh_from_db()
        assert execution.status == ExecutionStatus.SUCCEEDED, execution.error
        delivery = Delivery.objects.get(execution=execution)
        delivery_attempt(delivery_pk=delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SENT, delivery.last_error
    folder = delivery_root / str(berlin.pk) / "demo" / "monthly-billing-summary" / "2026-04-01"
    assert sorted(path.name for path in folder.iterdir()) == [
        "monthly-billing-summary_2026-04-01.pdf", "monthly-billing-summary_2026-04-01.xlsx",
    ]  # fmt: skip
    sheet = load_workbook(folder / "monthly-billing-summary_2026-04-01.xlsx").worksheets[0]
    rows = [[cell.value for cell in row] for row in sheet.iter_rows(max_row=8)]
    assert rows[0][0] == "Monthly Billing Summary"
    assert ["month", "03", None] in rows  # the slot on 1 April reports March
    assert ["year", 2026, None] in rows


def test_members_list_is_paused_and_its_monday_slot_runs_nothing(demo_schedules):
    members = demo_schedules[MEMBERS]
    assert not members.enabled
    assert members.cron == "0 8 * * 1"
    assert not PeriodicTask.objects.get(pk=members.periodic_task_id).enabled
    with time_machine.travel(utc(2026, 3, 16, 7, 0, 30), tick=False):  # Monday 08:00 in Berlin
        assert schedule_run_due(schedule_id=members.pk) == []


def test_loading_again_creates_no_schedule_and_keeps_a_changed_one(berlin, demo_schedules):
    ReportSchedule.objects.filter(name=BILLING).update(enabled=False)
    with time_machine.travel(utc(2026, 3, 16, 12), tick=False):
        assert sample_schedules_load(organization=berlin) == []
    assert ReportSchedule.objects.filter(organization=berlin).count() == 2
    assert PeriodicTask.objects.filter(name__startswith="Report schedule ").count() == 2
    assert not ReportSchedule.objects.get(name=BILLING).enabled


def test_no_demo_template_no_schedule(berlin):
    assert sample_schedules_load(organization=berlin) == []
    assert not ReportSchedule.objects.exists()


def test_load_sample_data_names_the_schedules_it_created_once(berlin):
    def load() -> str:
        out = io.StringIO()
        call_command("load_sample_data", "--org", berlin.slug, "--events", "100",
                     "--days", "3", stdout=out)  # fmt: skip
        return out.getvalue()

    first, second = load(), load()
    assert "delivery target: Demo folder (writes files to " in first
    assert "delivery target" not in second
    assert f"report schedule: {BILLING} (enabled, Europe/Berlin)" in first
    assert f"report schedule: {MEMBERS} (paused, Europe/Berlin)" in first
    assert "report schedule" not in second
    assert ReportSchedule.objects.filter(organization=berlin).count() == 2
