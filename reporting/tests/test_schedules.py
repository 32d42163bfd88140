"""A report that was due arrives once, on time, for the right period, even after an outage."""

import datetime as dt
import threading
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial

import pytest
import time_machine
from django.db import IntegrityError, connection, connections, transaction
from django_celery_beat.models import PeriodicTask

from reporting.models import ExecutionStatus, ReportExecution
from reporting.services.schedules import (
    schedule_create,
    schedule_delete,
    schedule_run_due,
    schedule_update,
    schedules_catch_up,
    slot_grace,
)
from reporting.slots import latest_slot

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


@pytest.mark.parametrize(
    ("cron", "slot", "longest", "expected"),
    [
        ("* * * * *", utc(2025, 5, 5, 12, 3), 300, timedelta(minutes=1)),
        ("*/5 * * * *", utc(2025, 5, 5, 12, 5), 300, timedelta(minutes=5)),
        ("0 * * * *", utc(2025, 5, 5, 12), 300, timedelta(minutes=5)),
        ("0 6 * * *", utc(2025, 5, 5, 4), 300, timedelta(minutes=5)),
        ("* * * * *", utc(2025, 5, 5, 12, 3), 120, timedelta(minutes=1)),
        ("*/5 * * * *", utc(2025, 5, 5, 12, 5), 120, timedelta(minutes=2)),
        ("0 * * * *", utc(2025, 5, 5, 12), 120, timedelta(minutes=2)),
        ("0 6 * * *", utc(2025, 5, 5, 4), 120, timedelta(minutes=2)),
        ("0,1 * * * *", utc(2025, 5, 5, 12), 300, timedelta(minutes=1)),  # until 12:01
        ("0,1 * * * *", utc(2025, 5, 5, 12, 1), 300, timedelta(minutes=5)),  # next at 13:00
    ],
)
def test_a_slot_is_on_time_for_one_interval_at_most_report_slot_grace(
    settings, cron, slot, longest, expected
):
    settings.REPORT_SLOT_GRACE = longest
    assert slot_grace(cron=cron, time_zone="Europe/Berlin", slot=slot) == expected


def test_a_daily_slot_three_minutes_late_still_runs_on_time(billing_template):
    schedule = make_schedule(billing_template, at=utc(2025, 5, 1), cron="0 6 * * *",
                             catch_up="skip")  # fmt: skip
    with time_machine.travel(utc(2025, 5, 5, 4, 3), tick=False):  # 06:03 in Berlin
        schedules_catch_up()
    with time_machine.travel(utc(2025, 5, 6, 4, 5, 1), tick=False):  # a second over the grace
        schedules_catch_up()
    assert slots_run(schedule) == [utc(2025, 5, 5, 4)]


@pytest.mark.parametrize(
    ("checked_at", "policy", "expected"),
    [
        (utc(2025, 5, 5, 12, 5), "skip", [utc(2025, 5, 5, 12)]),
        (utc(2025, 5, 5, 12, 5), "latest", [utc(2025, 5, 5, 12)]),
        (utc(2025, 5, 5, 12, 5), "all", [utc(2025, 5, 5, 11), utc(2025, 5, 5, 12)]),
        (utc(2025, 5, 5, 12, 6), "skip", []),
        (utc(2025, 5, 5, 12, 6), "latest", [utc(2025, 5, 5, 12)]),
        (utc(2025, 5, 5, 12, 6), "all", [utc(2025, 5, 5, 11), utc(2025, 5, 5, 12)]),
    ],
)
def test_an_hourly_slot_is_on_time_for_five_minutes_then_missed(
    billing_template, checked_at, policy, expected
):
    schedule = make_schedule(billing_template, at=utc(2025, 5, 5, 10, 30), cron="0 * * * *",
                             catch_up=policy)  # fmt: skip
    with time_machine.travel(checked_at, tick=False):  # beat was down from 10:30
        schedules_catch_up()
    assert slots_run(schedule) == expected


NOON = utc(2025, 5, 12, 12)


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ("skip", [NOON]),
        ("latest", [NOON]),
        ("all", [NOON - timedelta(minutes=m) for m in (3, 2, 1, 0)]),  # REPORT_CATCH_UP_MAX = 3
    ],
)
def test_after_a_week_down_an_every_minute_schedule_follows_its_policy_once(
    billing_template, settings, policy, expected
):
    settings.REPORT_CATCH_UP_MAX = 3
    schedule = make_schedule(billing_template, at=utc(2025, 5, 1), cron="* * * * *",
                             catch_up=policy)  # fmt: skip
    for seconds in (30, 50):  # 16,000 slots missed, and two checks in the minute beat returns
        with time_machine.travel(NOON + timedelta(seconds=seconds), tick=False):
            schedules_catch_up()
    assert slots_run(schedule) == expected
    with time_machine.travel(NOON + timedelta(minutes=1, seconds=10), tick=False):
        schedules_catch_up()  # the next minute runs its own slot, nothing of the week
    assert slots_run(schedule) == [*expected, NOON + timedelta(minutes=1)]


@pytest.mark.parametrize(("policy", "expected"), [("skip", []), ("latest", [utc(2025, 5, 5, 4)])])
def test_latest_runs_the_last_slot_before_the_end_date_when_beat_was_down_over_it(
    billing_template, policy, expected
):
    schedule = make_schedule(billing_template, at=utc(2025, 5, 1), cron="0 6 * * *",
                             catch_up=policy, end_date=dt.date(2025, 5, 5))  # fmt: skip
    with time_machine.travel(utc(2025, 5, 4, 4, 0, 30), tick=False):
        schedules_catch_up()
    with time_machine.travel(utc(2025, 5, 7, 9), tick=False):  # down from 4 May to 7 May
        schedules_catch_up()
    assert slots_run(schedule) == [utc(2025, 5, 4, 4), *expected]
    schedule.refresh_from_db()
    assert (schedule.last_slot_at, schedule.next_run_at) == (utc(2025, 5, 5, 4), None)


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
    assert body["next_runs"] == [  # in the schedule's zone: 06:00 Berlin, summer time
        "2025-04-01T06:00:00+02:00", "2025-05-01T06:00:00+02:00", "2025-06-01T06:00:00+02:00",
        "2025-07-01T06:00:00+02:00", "2025-08-01T06:00:00+02:00",
    ]  # fmt: skip


def test_api_next_runs_of_both_day_fields_are_the_firsts_and_the_mondays(
    analyst_client, billing_template
):
    with time_machine.travel(utc(2026, 12, 22, 12), tick=False):
        response = analyst_client.post(SCHEDULES, {
            "name": "Firsts and Mondays", "template_id": billing_template.pk,
            "cron": "0 6 1 * 1", "timezone": "Europe/Berlin", "parameters": LAST_MONTH,
        }, format="json")  # fmt: skip
        assert response.status_code == 201, response.json()
        body = analyst_client.get(f"{SCHEDULES}/{response.json()['id']}").json()
    assert body["next_runs"] == [  # Friday 1 January among the Mondays
        "2026-12-28T06:00:00+01:00", "2027-01-01T06:00:00+01:00", "2027-01-04T06:00:00+01:00",
        "2027-01-11T06:00:00+01:00", "2027-01-18T06:00:00+01:00",
    ]  # fmt: skip


def test_both_day_fields_wake_the_schedule_every_day_and_it_runs_on_either(billing_template):
    schedule = make_schedule(billing_template, at=utc(2026, 12, 22, 12), cron="0 6 1 * 1")
    task = PeriodicTask.objects.get(pk=schedule.periodic_task_id)
    # Beat's crontab would want a Monday the 1st; every day at 06:00 it is woken instead.
    crontab = task.crontab
    assert (crontab.minute, crontab.hour, crontab.day_of_month, crontab.day_of_week) == (
        "0", "6", "*", "*",
    )  # fmt: skip
    for day in (28, 29, 30, 31):  # Monday 28 December, then three days of neither kind
        with time_machine.travel(utc(2026, 12, day, 5, 0, 30), tick=False):
            schedule_run_due(schedule_id=schedule.pk)
    with time_machine.travel(utc(2027, 1, 1, 5, 0, 30), tick=False):  # Friday the 1st
        schedule_run_due(schedule_id=schedule.pk)
    assert slots_run(schedule) == [utc(2026, 12, 28, 5), utc(2027, 1, 1, 5)]


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


# --- drill: two beats and a beat outage (issue 12) -------------------------------------------


def all_at_once(calls: list[Callable[[], object]]) -> None:
    """Every call at the same moment, each in its own thread and database connection, as two
    beats and their checks are. SQLite's in-memory test database takes one writer at a time,
    so there they run one after another."""
    if connection.vendor != "postgresql":
        for call in calls:
            call()
        return
    start, errors = threading.Barrier(len(calls)), []

    def beat(call):
        try:
            start.wait(timeout=30)
            call()
        except BaseException as error:  # the test reports it; a thread would only print it
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=beat, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors


def two_beats_tick(moment: datetime, schedules) -> None:
    """Both beats at `moment`: each fires the beat entry of every schedule with a slot this
    minute, and the every-minute check."""
    minute = moment.replace(second=0, microsecond=0)
    with time_machine.travel(moment, tick=False):
        due = [s for s in schedules
               if latest_slot(cron=s.cron, time_zone=s.time_zone, at=moment) == minute]  # fmt: skip
        beat = [partial(schedule_run_due, schedule_id=s.pk) for s in due] + [schedules_catch_up]
        all_at_once(beat + beat)


@pytest.mark.django_db(transaction=True)
def test_two_beats_after_a_three_minute_outage_run_one_slot_of_an_every_minute_skip_schedule(
    billing_template,
):
    at = utc(2025, 5, 5, 11, 55, 30)
    schedules = {
        name: make_schedule(billing_template, at=at, name=name, cron=cron, catch_up=policy)
        for name, cron, policy in [
            ("minutely skip", "* * * * *", "skip"),
            ("minutely latest", "* * * * *", "latest"),
            ("minutely all", "* * * * *", "all"),
            ("hourly skip", "0 * * * *", "skip"),
        ]
    }
    before = [utc(2025, 5, 5, 11, minute) for minute in (56, 57, 58, 59)]
    gap = [utc(2025, 5, 5, 12, minute) for minute in (0, 1, 2)]  # beat down: no checks at all
    back = [utc(2025, 5, 5, 12, 3), utc(2025, 5, 5, 12, 4)]
    for moment in before:
        two_beats_tick(moment + timedelta(milliseconds=400), schedules.values())
    two_beats_tick(back[0] + timedelta(seconds=20), schedules.values())  # both beats restart
    two_beats_tick(back[1] + timedelta(milliseconds=400), schedules.values())

    executions = Counter(ReportExecution.objects.values_list("schedule__name", "slot_at"))
    assert set(executions.values()) == {1}  # one execution per slot, whoever fired
    assert slots_run(schedules["minutely skip"]) == before + back  # exactly one run from 12:00
    assert slots_run(schedules["minutely latest"]) == before + back  # its latest was on time
    assert slots_run(schedules["minutely all"]) == before + gap + back
    assert slots_run(schedules["hourly skip"]) == [utc(2025, 5, 5, 12)]  # 3 m 20 s late: on time
