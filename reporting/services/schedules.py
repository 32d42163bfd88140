"""Report schedules: saving them (and their beat entry), running due slots exactly once, and
catching up after an outage.

Slot times come from our code (reporting.slots), never from when beat fired: the beat entry
only wakes a schedule up, and a slot that already has an execution is a no-op, because
(schedule, slot_at) is unique in the database.

On time or missed. Whoever looks (the schedule's beat entry or the every-minute check) takes the
slots since the schedule's last one up to now. Only the latest of them can be on time: it is, for
its grace period after its time, which is one interval of the cron (until its next slot) and at
most REPORT_SLOT_GRACE seconds (300 by default). Every minute, */5 and hourly crons thus get
1, 5 and 5 minutes; a daily slot 3 minutes late still runs on time. Every other slot is missed,
and the schedule's catch-up policy says what runs:

- `skip`: the on-time slot, if there is one; missed slots never run.
- `latest`: the latest slot, on time or late; so after an outage exactly one run, for the most
  recent slot. An every-minute schedule's latest slot is always on time, so there it runs as
  `skip` does; a daily one checked at 09:00 after a night's outage runs 06:00 once, late.
- `all`: the latest REPORT_CATCH_UP_MAX missed slots, oldest first, then the on-time one.

Either way the schedule moves on past the latest slot, so nothing it skipped comes back.
"""

import json
import logging
import uuid
import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from itertools import islice
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from accounts.models import Organization
from config.errors import ApplicationError
from delivery.models import DeliveryTarget
from delivery.services import deliveries_plan_ids, targets_validate
from events.copy_insert import instances_insert_new
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
    days_either,
    latest_slot,
    latest_slots,
    next_slots,
    slot_interval,
    slots_between,
)

log = logging.getLogger(__name__)

BEAT_TASK = "business_intelligence.run_scheduled_report"
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
    if targets is not None:
        targets = list(targets)
        schedule_targets_validate(schedule, targets)
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
def schedule_save(
    *,
    schedule: ReportSchedule,
    at: time | None = None,
    delivery_targets: Iterable[DeliveryTarget] | None = None,
) -> ReportSchedule:
    """Save a schedule changed elsewhere (the admin form): checks, next run, beat entry, and its
    delivery targets when given (None keeps them)."""
    return _schedule_save(schedule, {"delivery_targets": delivery_targets}, at)


def schedule_targets_validate(schedule: ReportSchedule, targets: list[DeliveryTarget]) -> None:
    """A schedule delivers only to its own organisation's targets."""
    targets_validate(organization_id=schedule.organization_id, targets=targets)


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
    if days_either(schedule.cron):
        # Beat's crontab wants both day fields to match where cron wants either: it would wake
        # only on a Monday the 1st for "0 6 1 * 1". Woken every day instead, the schedule finds
        # its slots itself (from reporting.slots) and a day with none is a no-op.
        day_of_month = day_of_week = "*"
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
    return _schedules_run(schedules, now)


def schedules_catch_up(*, now: datetime | None = None) -> list[ReportExecution]:
    """Every enabled schedule with a slot due and no execution for it: beat or workers were down.

    One query finds them (next_run_at is indexed); the executions are inserted in bulk.
    """
    now = now or timezone.now()
    due = ReportSchedule.objects.filter(enabled=True, next_run_at__lte=now)
    return _schedules_run(due, now)


def _schedules_lock(schedules: QuerySet[ReportSchedule]) -> list[ReportSchedule]:
    """The schedules, locked for this transaction. Two beats, or a beat entry and the
    every-minute check, take the same schedules at once: the second waits and plans from the
    slots the first stored (PostgreSQL re-reads a row it waited for). Locking in id order keeps
    two checkers from deadlocking, as their UPDATEs did in table order; only the schedules' rows
    are locked, not their templates or organisations."""
    locked = schedules.select_for_update(of=("self",)).order_by("pk")
    # Prefetched, not joined: the schedules share a few templates and owners, one object each.
    return list(locked.prefetch_related("template__organization", "owner"))


@dataclass(frozen=True)
class SlotPlan:
    run: list[datetime]  # the slots to run now, oldest first
    last: datetime | None  # the latest slot seen, run or skipped


@transaction.atomic
def _schedules_run(schedules: QuerySet[ReportSchedule], now: datetime | None):
    now = now or timezone.now()
    schedules = _schedules_lock(schedules)
    # Thousands of schedules share a few crons, zones and last slots: each plan is made once.
    plans: dict[tuple, SlotPlan] = {}
    for schedule in schedules:
        if _plan_key(schedule) not in plans:
            plans[_plan_key(schedule)] = _slot_plan(schedule, now)
    asked = _Asked()
    executions = [
        _execution_for_slot(schedule, slot, asked)
        for schedule in schedules
        for slot in plans[_plan_key(schedule)].run
    ]
    # A slot that already has its execution is skipped; the others get their ids from one query.
    instances_insert_new(executions)
    task_ids = [e.celery_task_id for e in executions if e.status == ExecutionStatus.QUEUED]
    stored = dict(
        ReportExecution.objects.filter(celery_task_id__in=task_ids).values_list(
            "celery_task_id", "pk"
        )
    )
    created = [e for e in executions if e.celery_task_id in stored]
    for execution in created:
        execution.pk, execution._state.adding = stored[execution.celery_task_id], False
    targets = _schedule_target_ids([schedule.pk for schedule in schedules])
    deliveries_plan_ids(pairs=[(e.pk, t) for e in created for t in targets[e.schedule_id]])
    enqueue_on_commit(*created)
    next_runs: dict[tuple, datetime | None] = {}
    for schedule in schedules:
        _schedule_advance(schedule, plans[_plan_key(schedule)].last, now, next_runs)
    _schedules_store_slots(schedules)
    return created


def _schedule_target_ids(schedule_ids: list[int]) -> dict[int, list[int]]:
    through = ReportSchedule.delivery_targets.through
    links = through.objects.filter(reportschedule_id__in=schedule_ids)
    targets: dict[int, list[int]] = {pk: [] for pk in schedule_ids}
    for schedule_id, target_id in links.values_list("reportschedule_id", "deliverytarget_id"):
        targets[schedule_id].append(target_id)
    return targets


def _plan_key(schedule: ReportSchedule) -> tuple:
    """What a schedule's slot plan depends on."""
    return (
        schedule.cron, schedule.time_zone, schedule.catch_up, schedule.start_date,
        schedule.end_date, schedule.last_slot_at or schedule.created_at,
    )  # fmt: skip


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


def slot_grace(*, cron: str, time_zone: str, slot: datetime) -> timedelta:
    """How long after its time a slot is still on time: until the cron's next slot, and at most
    REPORT_SLOT_GRACE seconds."""
    longest = timedelta(seconds=settings.REPORT_SLOT_GRACE)
    return min(slot_interval(cron=cron, time_zone=time_zone, slot=slot), longest)


def _slot_plan(schedule: ReportSchedule, now: datetime) -> SlotPlan:
    """The slots since the schedule's last one that run now, by the rule in the module's
    docstring. Only the newest ones the policy can run are computed, so a long outage costs
    no more than a short one."""
    after, until = _slot_bounds(schedule, now)
    wanted = settings.REPORT_CATCH_UP_MAX + 1 if schedule.catch_up == CatchUp.ALL else 1
    slots = latest_slots(
        cron=schedule.cron, time_zone=schedule.time_zone, after=after, until=until, count=wanted
    )
    slots = [slot for slot in slots if _within_dates(schedule, slot)]
    if not slots:
        return SlotPlan(run=[], last=None)
    latest = slots[-1]
    grace = slot_grace(cron=schedule.cron, time_zone=schedule.time_zone, slot=latest)
    on_time = [latest] if now - latest <= grace else []
    missed = slots[: len(slots) - len(on_time)]
    if schedule.catch_up == CatchUp.SKIP:
        run = on_time
    elif schedule.catch_up == CatchUp.LATEST:
        run = [latest]
    else:
        run = missed[-settings.REPORT_CATCH_UP_MAX :] + on_time
    return SlotPlan(run=run, last=latest)


def _slot_bounds(schedule: ReportSchedule, now: datetime) -> tuple[datetime, datetime]:
    """The stretch whose slots are the schedule's to run now: after its last slot (or its
    creation, or the start of its first day) up to now (or the end of its last day)."""
    after = schedule.last_slot_at or schedule.created_at
    zone = zoneinfo.ZoneInfo(schedule.time_zone)
    if schedule.start_date:
        first_day = datetime.combine(schedule.start_date, time.min, tzinfo=zone)
        after = max(after, first_day - timedelta(microseconds=1))
    if schedule.end_date:
        day_after = datetime.combine(schedule.end_date + timedelta(days=1), time.min, tzinfo=zone)
        now = min(now, day_after - timedelta(microseconds=1))
    return after, now


def _schedule_advance(
    schedule: ReportSchedule, last: datetime | None, now: datetime, next_runs: dict[tuple, Any]
) -> None:
    """Past its latest slot; `next_runs` keeps the next slots already found in this pass."""
    if last and (schedule.last_slot_at is None or last > schedule.last_slot_at):
        schedule.last_slot_at = last
    after = max(now, schedule.last_slot_at or now)
    key = (schedule.cron, schedule.time_zone, schedule.start_date, schedule.end_date, after)
    if key not in next_runs:
        next_runs[key] = schedule_next_run(schedule, after=after)
    schedule.next_run_at = next_runs[key]


@dataclass
class _Asked:
    """Answers one pass needs once, not once per schedule: may an owner run a template
    (owner id, template id), and a slot's parameters (template, parameters, slot, zone)."""

    runnable: dict[tuple, bool] = field(default_factory=dict)
    parameters: dict[tuple, tuple[dict[str, Any], str]] = field(default_factory=dict)


def _execution_for_slot(schedule: ReportSchedule, slot: datetime, asked: _Asked) -> ReportExecution:
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
    key = (template.pk, json.dumps(schedule.parameters, sort_keys=True), slot, schedule.time_zone)
    if key not in asked.parameters:
        asked.parameters[key] = _slot_parameters(schedule, slot)
    execution.parameters, error = asked.parameters[key]
    if schedule.owner_id and (schedule.owner_id, template.pk) not in asked.runnable:
        asked.runnable[schedule.owner_id, template.pk] = template_runnable(
            template=template, user=schedule.owner
        )
    if schedule.owner_id and not asked.runnable[schedule.owner_id, template.pk]:
        # The template's run_role was raised above its owner's role after it was scheduled.
        error = (f"The schedule's owner may no longer run this template "
                 f"(it needs the {template.run_role} role).")  # fmt: skip
    if error:
        _execution_refuse(execution, error)
    return execution


def _slot_parameters(schedule: ReportSchedule, slot: datetime) -> tuple[dict[str, Any], str]:
    """The schedule's parameters resolved for the slot, validated; or why they do not fit."""
    resolved = parameters_resolve(schedule.parameters, slot=slot, time_zone=schedule.time_zone)
    try:
        return parameters_validate(schema=schedule.template.parameters_schema, values=resolved), ""
    except ApplicationError as error:
        return resolved, f"{error.message} {json.dumps(error.errors.get('parameters', {}))}"


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
    """Run the schedule's report now, outside its slots, with parameters resolved for now,
    delivered to the schedule's targets as a slot's run is."""
    return execution_request(
        template=schedule.template,
        parameters=parameters_resolve(
            schedule.parameters, slot=timezone.now(), time_zone=schedule.time_zone
        ),
        requested_by=user,
        trigger=Trigger.API,
        output_formats=schedule.output_formats or None,
        schedule=schedule,
        delivery_targets=list(schedule.delivery_targets.all()),
        client=client,
    )
