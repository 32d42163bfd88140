"""Report schedules: saving them (and their beat entry), running due slots exactly once, and
catching up after an outage.

Slot times come from our code (reporting.slots), never from when beat fired: the beat entry
only wakes a schedule up, and a slot that already has an execution is a no-op, because
(schedule, slot_at) is unique in the database.
"""

import json
import logging
import uuid
import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from itertools import islice
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, transaction
from django.utils import timezone
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from accounts.models import Organization
from config.errors import ApplicationError
from delivery.services import deliveries_plan
from reporting.models import (
    CatchUp,
    ExecutionStatus,
    ReportExecution,
    ReportSchedule,
    ReportTemplate,
    Trigger,
)
from reporting.parameters import parameters_validate
from reporting.relative_dates import parameters_resolve, tokens_validate
from reporting.selectors import template_runnable
from reporting.services.access_log import ClientInfo
from reporting.services.executions import enqueue_on_commit, execution_request
from reporting.services.templates import output_formats_normalize
from reporting.slots import (
    cron_from_preset,
    cron_validate,
    latest_slot,
    next_slots,
    slots_between,
)

log = logging.getLogger(__name__)

BEAT_TASK = "business_intelligence.run_scheduled_report"
# A slot this recent is on time: it runs whatever the catch-up policy says about missed ones.
ON_TIME = timedelta(minutes=5)
_NEVER = datetime.max.replace(tzinfo=UTC)
SCHEDULE_FIELDS = (
    "name", "parameters", "output_formats", "cron", "preset", "time_zone", "enabled",
    "start_date", "end_date", "catch_up",
)  # fmt: skip


# --- saving ----------------------------------------------------------------------------------


@transaction.atomic
def schedule_create(
    *,
    organization: Organization,
    owner: AbstractBaseUser | None,
    template: ReportTemplate,
    at: time | None = None,
    **fields: Any,
) -> ReportSchedule:
    schedule = ReportSchedule(organization=organization, owner=owner, template=template)
    return _schedule_save(schedule, fields, at)


@transaction.atomic
def schedule_update(
    *,
    schedule: ReportSchedule,
    template: ReportTemplate | None = None,
    at: time | None = None,
    **fields: Any,
) -> ReportSchedule:
    if template is not None:
        schedule.template = template
    return _schedule_save(schedule, fields, at)


@transaction.atomic
def schedule_delete(*, schedule: ReportSchedule) -> None:
    if schedule.periodic_task_id:
        PeriodicTask.objects.filter(pk=schedule.periodic_task_id).delete()
    schedule.delete()


def _schedule_save(schedule: ReportSchedule, fields: dict[str, Any], at: time | None):
    targets = fields.pop("delivery_targets", None)
    for name in SCHEDULE_FIELDS:
        if name in fields and fields[name] is not None:
            setattr(schedule, name, fields[name])
    schedule_validate(schedule, at)
    # A new or changed schedule starts from its next slot; it does not catch up on the past.
    now = timezone.now()
    current = latest_slot(cron=schedule.cron, time_zone=schedule.time_zone, at=now)
    if current and (schedule.last_slot_at is None or current > schedule.last_slot_at):
        schedule.last_slot_at = current
    schedule.next_run_at = schedule_next_run(schedule, after=now)
    schedule.save()
    if targets is not None:
        schedule.delivery_targets.set(targets)
    schedule_beat_sync(schedule)
    return schedule


@transaction.atomic
def schedule_save(*, schedule: ReportSchedule) -> ReportSchedule:
    """Save a schedule changed elsewhere (the admin form): checks, next run, beat entry."""
    return _schedule_save(schedule, {}, None)


def schedule_validate(schedule: ReportSchedule, at: time | None = None) -> None:
    """Every rule a schedule must meet; normalises its cron, zone and formats."""
    schedule.time_zone = schedule.time_zone or schedule.organization.time_zone

    def refuse(field: str, reason: str):
        raise ApplicationError(f"The schedule's {field} is not valid.", errors={field: [reason]})

    if schedule.template.organization_id != schedule.organization_id:
        refuse("template_id", "Unknown template.")
    try:
        zoneinfo.ZoneInfo(schedule.time_zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        refuse("timezone", f"{schedule.time_zone!r} is not an IANA time zone.")
    try:
        if schedule.preset:
            schedule.cron = cron_from_preset(preset=schedule.preset, at=at or time(6, 0))
        schedule.cron = cron_validate(schedule.cron)
    except ValueError as error:
        refuse("cron", str(error))
    if schedule.start_date and schedule.end_date and schedule.end_date < schedule.start_date:
        refuse("end_date", "The end date is before the start date.")
    if schedule.output_formats:
        schedule.output_formats = output_formats_normalize(schedule.output_formats)
    try:
        tokens_validate(schedule.parameters)
    except ValueError as error:
        refuse("parameters", str(error))
    # The parameters as they would be at the next run must suit the template.
    resolved = parameters_resolve(
        schedule.parameters, slot=timezone.now(), time_zone=schedule.time_zone
    )
    parameters_validate(schema=schedule.template.parameters_schema, values=resolved)


def schedule_next_run(schedule: ReportSchedule, *, after: datetime) -> datetime | None:
    """The first slot after `after` within the schedule's dates, or None when it has ended."""
    if schedule.start_date:  # a schedule that starts later: look from its first day
        first_day = datetime.combine(
            schedule.start_date, time.min, tzinfo=zoneinfo.ZoneInfo(schedule.time_zone)
        )
        after = max(after, first_day - timedelta(microseconds=1))
    # Lazily: the first slot usually answers, and next_slots(count=400) computes all 400.
    slots = slots_between(
        cron=schedule.cron, time_zone=schedule.time_zone, after=after, until=_NEVER
    )
    for slot in islice(slots, 400):
        if _within_dates(schedule, slot):
            return slot
        if schedule.end_date and _local_date(schedule, slot) > schedule.end_date:
            return None
    return None


def schedule_upcoming(schedule: ReportSchedule, *, count: int = 5) -> list[datetime]:
    slots = next_slots(
        cron=schedule.cron, time_zone=schedule.time_zone, after=timezone.now(), count=count * 4
    )
    return [slot for slot in slots if _within_dates(schedule, slot)][:count]


def schedule_beat_sync(schedule: ReportSchedule) -> PeriodicTask:
    """(Re)build the schedule's beat entry from the schedule, so the two cannot disagree."""
    minute, hour, day_of_month, month_of_year, day_of_week = schedule.cron.split()
    crontab, _ = CrontabSchedule.objects.get_or_create(
        minute=minute,
        hour=hour,
        day_of_month=day_of_month,
        month_of_year=month_of_year,
        day_of_week=day_of_week,
        timezone=schedule.time_zone,
    )
    task, _ = PeriodicTask.objects.update_or_create(
        name=f"Report schedule {schedule.pk}",
        defaults={
            "task": BEAT_TASK,
            "args": json.dumps([schedule.pk]),
            "kwargs": "{}",
            "crontab": crontab,
            "interval": None,
            "enabled": schedule.enabled,
            "description": f"{schedule.name} ({schedule.organization.slug})",
        },
    )
    if schedule.periodic_task_id != task.pk:
        ReportSchedule.objects.filter(pk=schedule.pk).update(periodic_task=task)
        schedule.periodic_task = task
    return task


# --- running ---------------------------------------------------------------------------------


def schedule_run_due(*, schedule_id: int, now: datetime | None = None) -> list[ReportExecution]:
    """The beat entry fired: run what is due for this schedule (a no-op if nothing is)."""
    schedules = ReportSchedule.objects.filter(pk=schedule_id, enabled=True)
    return _schedules_run(_with_relations(schedules), now)


def schedules_catch_up(*, now: datetime | None = None) -> list[ReportExecution]:
    """Every enabled schedule with a slot due and no execution for it: beat or workers were down.

    One query finds them (next_run_at is indexed); the executions are inserted in bulk.
    """
    now = now or timezone.now()
    due = ReportSchedule.objects.filter(enabled=True, next_run_at__lte=now)
    return _schedules_run(_with_relations(due), now)


def _with_relations(schedules):
    return schedules.select_related("template", "organization").prefetch_related("delivery_targets")


@dataclass(frozen=True)
class SlotPlan:
    run: list[datetime]  # the slots to run now, oldest first
    last: datetime | None  # the latest slot seen, run or skipped


def _schedules_run(schedules: Iterable[ReportSchedule], now: datetime | None):
    now = now or timezone.now()
    schedules = list(schedules)
    plans = {schedule.pk: _slot_plan(schedule, now) for schedule in schedules}
    executions = [
        _execution_for_slot(schedule, slot)
        for schedule in schedules
        for slot in plans[schedule.pk].run
    ]
    by_schedule = {schedule.pk: schedule for schedule in schedules}
    with transaction.atomic():
        # No batch_size: on PostgreSQL one INSERT … SELECT FROM UNNEST takes them all.
        ReportExecution.objects.bulk_create(executions, ignore_conflicts=True)
        task_ids = [e.celery_task_id for e in executions if e.status == ExecutionStatus.QUEUED]
        created = list(ReportExecution.objects.filter(celery_task_id__in=task_ids))
        deliveries_plan(
            plan=[(e, by_schedule[e.schedule_id].delivery_targets.all()) for e in created]
        )
        for execution in created:
            enqueue_on_commit(execution)
        for schedule in schedules:
            _schedule_advance(schedule, plans[schedule.pk].last, now)
        _schedules_store_slots(schedules)
    return created


def _schedules_store_slots(schedules: list[ReportSchedule]) -> None:
    """Every schedule's new slots in one UPDATE on PostgreSQL. bulk_update cannot: in batches
    its statements grow with the schedules, and in one its CASE of an arm per row is quadratic
    (82 s for 10,000 rows). SQLite, a development database, keeps bulk_update."""
    if connection.vendor != "postgresql":
        ReportSchedule.objects.bulk_update(
            schedules, ["last_slot_at", "next_run_at"], batch_size=500
        )
        return
    if not schedules:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {ReportSchedule._meta.db_table} AS schedule"
            " SET last_slot_at = slots.last_slot_at, next_run_at = slots.next_run_at"
            " FROM unnest(%s::bigint[], %s::timestamptz[], %s::timestamptz[])"
            " AS slots (id, last_slot_at, next_run_at) WHERE schedule.id = slots.id",
            [
                [schedule.pk for schedule in schedules],
                [schedule.last_slot_at for schedule in schedules],
                [schedule.next_run_at for schedule in schedules],
            ],
        )


def _slot_plan(schedule: ReportSchedule, now: datetime) -> SlotPlan:
    after = schedule.last_slot_at or schedule.created_at
    scan = islice(
        slots_between(cron=schedule.cron, time_zone=schedule.time_zone, after=after, until=now),
        10_000,
    )
    slots = [slot for slot in scan if _within_dates(schedule, slot)]
    on_time = [slot for slot in slots if now - slot <= ON_TIME]
    missed = [slot for slot in slots if now - slot > ON_TIME]
    if schedule.catch_up == CatchUp.SKIP:
        missed = []
    elif schedule.catch_up == CatchUp.LATEST:
        missed = missed[-1:]
    else:
        missed = missed[-settings.REPORT_CATCH_UP_MAX :]
    return SlotPlan(run=missed + on_time, last=slots[-1] if slots else None)


def _schedule_advance(schedule: ReportSchedule, last: datetime | None, now: datetime) -> None:
    if last and (schedule.last_slot_at is None or last > schedule.last_slot_at):
        schedule.last_slot_at = last
    schedule.next_run_at = schedule_next_run(schedule, after=max(now, schedule.last_slot_at or now))


def _execution_for_slot(schedule: ReportSchedule, slot: datetime) -> ReportExecution:
    """A queued execution for the slot, or a failed one saying why its parameters did not fit."""
    template = schedule.template
    execution = ReportExecution(
        organization_id=schedule.organization_id,
        template=template,
        trigger=Trigger.SCHEDULE,
        requested_by_id=schedule.owner_id,
        schedule=schedule,
        slot_at=slot,
        celery_task_id=str(uuid.uuid4()),
        output_formats=schedule.output_formats or template.output_formats,
    )
    resolved = parameters_resolve(schedule.parameters, slot=slot, time_zone=schedule.time_zone)
    execution.parameters = resolved
    if schedule.owner_id and not template_runnable(template=template, user=schedule.owner):
        # The template's run_role was raised above its owner's role after it was scheduled.
        _execution_refuse(execution, f"The schedule's owner may no longer run this template "
                                     f"(it needs the {template.run_role} role).")  # fmt: skip
        return execution
    try:
        execution.parameters = parameters_validate(
            schema=template.parameters_schema, values=resolved
        )
    except ApplicationError as error:
        _execution_refuse(
            execution, f"{error.message} {json.dumps(error.errors.get('parameters', {}))}"
        )
    return execution


def _execution_refuse(execution: ReportExecution, error: str) -> None:
    execution.status = ExecutionStatus.FAILED
    execution.finished_at = timezone.now()
    execution.error = error


def _within_dates(schedule: ReportSchedule, slot: datetime) -> bool:
    day = _local_date(schedule, slot)
    if schedule.start_date and day < schedule.start_date:
        return False
    return not (schedule.end_date and day > schedule.end_date)


def _local_date(schedule: ReportSchedule, slot: datetime):
    return slot.astimezone(zoneinfo.ZoneInfo(schedule.time_zone)).date()


def schedule_run_now(
    *, schedule: ReportSchedule, user: AbstractBaseUser | None, client: ClientInfo | None = None
) -> ReportExecution:
    """Run the schedule's report now, outside its slots, with parameters resolved for now."""
    return execution_request(
        template=schedule.template,
        parameters=parameters_resolve(
            schedule.parameters, slot=timezone.now(), time_zone=schedule.time_zone
        ),
        requested_by=user,
        trigger=Trigger.API,
        output_formats=schedule.output_formats or None,
        schedule=schedule,
        client=client,
    )
