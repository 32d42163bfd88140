"""A report that was due arrives once, on time, for the right period, even after an outage."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import IntegrityError, transaction
from django_celery_beat.models import PeriodicTask

from reporting.models import ExecutionStatus, ReportExecution
from reporting.services.schedules import (
    schedule_create,
    schedule_delete,
    schedule_run_due,
    schedule_update,
    schedules_catch_up,
)

SCHEDULES = "/api/v1/business-intelligence/scheduled-reports"
LAST_MONTH = {"month": "{last_month.month}", "year": "{last_month.year}"}


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def make_schedule(template, *, at: datetime, **fields):
    fields.setdefault("parameters", LAST_MONTH)
    fields.setdefault("time_zone", "Europe/Berlin")
    with time_machine.travel(at, tick=False):
        return schedule_create(
            organization=template.organization, owner=None, template=template,
            name=fields.pop("name", "Billing"), **fields,
        )  # fmt: skip


def run_checks(start: datetime, end: datetime, every=timedelta(minutes=15)):
    """The every-minute checker, sampled, as beat would run it over a stretch of time."""
    moment = start
    while moment <= end:
        with time_machine.travel(moment, tick=False):
            schedules_catch_up()
        moment += every


def slots_run(schedule) -> list[datetime]:
    return list(schedule.executions.order_by("slot_at").values_list("slot_at", flat=True))


def test_monthly_billing_at_six_on_the_first_reports_last_month(billing_template):
    schedule = make_schedule(billing_template, at=utc(2025, 3, 15), cron="0 6 1 * *")
    with time_machine.travel(utc(2025, 4, 1, 4, 0, 30), tick=False):  # 06:00:30 in Berlin
        [execution] = schedule_run_due(schedule_id=schedule.pk)
    assert execution.trigger == "schedule"
    assert execution.slot_at == utc(2025, 4, 1, 4, 0)
    assert execution.parameters == {"month": "03", "year": 2025, "rows": 3}


def test_second_fire_for_same_slot_creates_nothing(billing_template):
    schedule = make_schedule(billing_template, at=utc(2025, 3, 15), cron="0 6 1 * *")
    with time_machine.travel(utc(2025, 4, 1, 4, 0, 30), tick=False):
        assert len(schedule_run_due(schedule_id=schedule.pk)) == 1
        assert schedule_run_due(schedule_id=schedule.pk) == []  # a second beat
        assert schedules_catch_up() == []  # the checker
    assert ReportExecution.objects.filter(schedule=schedule).count() == 1
    duplicate = ReportExecution(
        organization=schedule.organization, template=billing_template, schedule=schedule,
        slot_at=utc(2025, 4, 1, 4, 0),
    )  # fmt: skip
    with pytest.raises(IntegrityError), transaction.atomic():
        duplicate.save()  # even a bypass of the service cannot make a second one


def test_a_daily_schedule_keeps_its_local_time_across_dst_changes(billing_template):
    schedule = make_schedule(billing_template, at=utc(2025, 3, 28, 12), cron="0 6 * * *")
    run_checks(utc(2025, 3, 29, 0), utc(2025, 3, 31, 12))
    assert slots_run(schedule) == [utc(2025, 3, 29, 5), utc(2025, 3, 30, 4), utc(2025, 3, 31, 4)]


def test_spring_forward_runs_a_missing_local_time_once(billing_template):
    # 02:30 does not exist in Berlin on 2025-03-30: it runs once, at 03:00 local (01:00 UTC).
    schedule = make_schedule(billing_template, at=utc(2025, 3, 29, 12), cron="30 2 * * *")
    run_checks(utc(2025, 3, 30, 0), utc(2025, 3, 30, 23))
    assert slots_run(schedule) == [utc(2025, 3, 30, 1)]


def test_fall_back_runs_a_repeated_local_time_once(billing_template):
    # 02:30 happens twice in Berlin on 2025-10-26: it runs at the first (00:30 UTC).
    schedule = make_schedule(billing_template, at=utc(2025, 10, 25, 12), cron="30 2 * * *")
    run_checks(utc(2025, 10, 26, 0), utc(2025, 10, 26, 23))
    assert slots_run(schedule) == [utc(2025, 10, 26, 0, 30)]


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ("skip", []),
        ("latest", [utc(2025, 5, 5, 4)]),
        ("all", [utc(2025, 5, d, 4) for d in (3, 4, 5)]),  # REPORT_CATCH_UP_MAX = 3 below
    ],
)
def test_catch_up_after_an_outage_follows_the_policy(billing_template, settings, policy, expected):
    settings.REPORT_CATCH_UP_MAX = 3
    schedule = make_schedule(billing_template, at=utc(2025, 4, 30, 12), cron="0 6 * * *",
                             catch_up=policy)  # fmt: skip
    with time_machine.travel(utc(2025, 5, 5, 9), tick=False):  # beat was down five days
        schedules_catch_up()
    assert slots_run(schedule) == expected
    schedule.refresh_from_db()
    assert schedule.last_slot_at == utc(2025, 5, 5, 4)
    assert schedule.next_run_at == utc(2025, 5, 6, 4)


def test_a_catch_up_run_reports_the_period_its_slot_was_due_for(billing_template):
    schedule = make_schedule(billing_template, at=utc(2025, 2, 20), cron="0 6 1 * *",
                             catch_up="all")  # fmt: skip
    with time_machine.travel(utc(2025, 4, 2, 9), tick=False):  # down over two month starts
        schedules_catch_up()
    months = [e.parameters["month"] for e in schedule.executions.order_by("slot_at")]
    assert months == ["02", "03"]


def test_the_beat_entry_follows_the_schedule(billing_template):
    schedule = make_schedule(billing_template, at=utc(2025, 3, 1), cron="0 6 1 * *")
    task = PeriodicTask.objects.get(pk=schedule.periodic_task_id)
    assert (task.task, task.args, task.enabled) == (
        "business_intelligence.run_scheduled_report", f"[{schedule.pk}]", True,
    )  # fmt: skip
    assert (task.crontab.minute, task.crontab.hour, task.crontab.day_of_month) == ("0", "6", "1")
    assert str(task.crontab.timezone) == "Europe/Berlin"
    task.crontab_id, task.enabled = None, False
    PeriodicTask.objects.filter(pk=task.pk).update(args="[999]")  # edited by hand
    schedule_update(schedule=schedule, enabled=False)
    task.refresh_from_db()
    assert (task.args, task.enabled) == (f"[{schedule.pk}]", False)
    schedule_delete(schedule=schedule)
    assert not PeriodicTask.objects.filter(pk=task.pk).exists()


def test_api_creates_a_schedule_with_a_preset_and_shows_the_next_runs(
    analyst_client, billing_template
):
    with time_machine.travel(utc(2025, 3, 10, 12), tick=False):
        response = analyst_client.post(SCHEDULES, {
            "name": "Monthly billing", "template_id": billing_template.pk, "preset": "monthly",
            "time": "06:00", "timezone": "Europe/Berlin", "parameters": LAST_MONTH,
            "output_formats": ["pdf", "excel"], "catch_up": "all",
        }, format="json")  # fmt: skip
        assert response.status_code == 201, response.json()
        body = analyst_client.get(f"{SCHEDULES}/{response.json()['id']}").json()
    assert body["cron"] == "0 6 1 * *"
    assert body["output_formats"] == ["pdf", "xlsx"]
    assert body["next_run_at"].startswith("2025-04-01T04:00")
    assert [run[:16] for run in body["next_runs"]] == [
        "2025-04-01T04:00", "2025-05-01T04:00", "2025-06-01T04:00", "2025-07-01T04:00",
        "2025-08-01T04:00",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"cron": "61 * * * *"}, "cron"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"parameters": {"month": "{next_century}", "year": 2025}}, "parameters"),
        ({"parameters": {"month": "13", "year": 2025}}, "parameters"),
    ],
)
def test_api_refuses_a_bad_schedule_naming_the_field(
    analyst_client, billing_template, change, field
):
    body = {"name": "Bad", "template_id": billing_template.pk, "cron": "0 6 1 * *",
            "parameters": LAST_MONTH, **change}  # fmt: skip
    response = analyst_client.post(SCHEDULES, body, format="json")
    assert response.status_code == 400
    assert field in response.json()


def test_run_now_and_the_schedules_executions(analyst_client, billing_template):
    schedule = make_schedule(billing_template, at=utc(2025, 3, 1), cron="0 6 1 * *")
    response = analyst_client.post(f"{SCHEDULES}/{schedule.pk}/run-now")
    assert response.status_code == 202
    assert response.json()["status"] == "queued"
    listed = analyst_client.get(f"{SCHEDULES}/{schedule.pk}/executions").json()["results"]
    assert [e["id"] for e in listed] == [response.json()["id"]]


def test_viewers_cannot_manage_schedules_and_other_organisations_are_404(
    viewer_client, analyst_client, foreign_template
):
    assert viewer_client.get(SCHEDULES).status_code == 403
    theirs = make_schedule(foreign_template, at=utc(2025, 3, 1), cron="0 6 1 * *",
                           parameters={"month": "03", "year": 2025})  # fmt: skip
    assert analyst_client.get(f"{SCHEDULES}/{theirs.pk}").status_code == 404
    assert analyst_client.post(f"{SCHEDULES}/{theirs.pk}/run-now").status_code == 404


def test_a_slot_execution_is_delivered_to_the_schedules_targets(billing_template, organization):
    from delivery.models import Delivery
    from delivery.services import target_create

    target = target_create(organization=organization, created_by=None, name="Finance",
                           kind="email", config={"recipients": ["ana@acme.test"]})  # fmt: skip
    schedule = make_schedule(billing_template, at=utc(2025, 3, 15), cron="0 6 1 * *")
    with time_machine.travel(utc(2025, 3, 16), tick=False):
        schedule_update(schedule=schedule, delivery_targets=[target])
    with time_machine.travel(utc(2025, 4, 1, 4, 0, 30), tick=False):
        [execution] = schedule_run_due(schedule_id=schedule.pk)
    delivery = Delivery.objects.get()
    assert (delivery.execution, delivery.target, delivery.status) == (execution, target, "pending")


def test_a_schedule_that_starts_later_knows_its_first_run(billing_template):
    import datetime as dt

    schedule = make_schedule(billing_template, at=utc(2025, 3, 1), cron="*/15 * * * *",
                             start_date=dt.date(2025, 3, 20))  # fmt: skip
    assert schedule.next_run_at == utc(2025, 3, 19, 23, 0)  # 00:00 on the 20th in Berlin


def test_a_slot_whose_owner_may_no_longer_run_the_template_fails_saying_why(
    billing_template, analyst
):
    schedule = make_schedule(billing_template, at=utc(2025, 3, 15), cron="0 6 1 * *")
    schedule.owner = analyst
    schedule.save()
    billing_template.run_role = "admin"  # raised after the analyst scheduled it
    billing_template.save()
    with time_machine.travel(utc(2025, 4, 1, 4, 0, 30), tick=False):
        assert schedule_run_due(schedule_id=schedule.pk) == []  # nothing queued
    execution = schedule.executions.get()
    assert execution.status == ExecutionStatus.FAILED
    assert "may no longer run this template (it needs the admin role)" in execution.error
