"""When a schedule is due: slot times from a 5-field cron expression and an IANA time zone.

Slots are computed here, never taken from when beat happened to fire (django-celery-beat's crontab
handling around DST changes fires twice or an hour off). Every function answers aware UTC
datetimes, strictly increasing, one per distinct instant. Iteration is done by cronsim, the
library healthchecks.io uses, and the DST rules below are its (and Debian cron's) rules.

Syntax: `minute hour day-of-month month day-of-week`, each a number, a name (JAN-DEC, SUN-SAT),
`*`, a range `a-b`, a step `*/n` or `a-b/n`, or a list `a,b`. Day of week runs 0-6 from Sunday.
When neither day field starts with `*`, a day matches if either matches; otherwise both must
(Debian cron). Refused because beat's crontab cannot express them: cronsim's extensions `L`, `LW`
and `#`, and 7 for Sunday.

DST: two kinds of expression, told apart by the minute and hour fields.

- Wall-clock expressions (neither the minute nor the hour field starts with `*`: `30 2 * * *`,
  `0 6,18 * * 1-5`) name local times of day, and each runs once per day it matches:
  - a local time that does not exist (spring forward) runs once at the first valid local time
    after the gap: 02:30 Europe/Berlin on 2025-03-30 runs at 03:00 CEST = 01:00 UTC;
    times moved onto the same instant are one slot (`0,30 2,3 * * *` runs at 03:00 and 03:30);
  - a local time that occurs twice (fall back) runs once, at its first occurrence: 02:30
    Europe/Berlin on 2025-10-26 runs at 02:30 CEST = 00:30 UTC, not again an hour later.
- Interval expressions (the minute or the hour field starts with `*`: `30 * * * *`,
  `*/15 * * * *`, `0 */2 * * *`) name instants at which the local clock shows a matching time.
  On fall back the repeated hour is two real, distinct instants and both run (`30 * * * *` has
  25 slots that day); on spring forward the skipped local times have no slot (23 slots). So
  `*/20 2 * * *` runs six times on a fall-back day in Berlin and not at all on a spring-forward
  day.

`latest_slot` and `latest_slots` look back at most `LATEST_SLOT_LOOKBACK` (400 days, more than
any yearly expression needs); an expression whose latest slot is older (29 February) answers None.
"""

from collections import deque
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from functools import lru_cache
from itertools import islice, takewhile
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cron_descriptor import ExpressionDescriptor, FormatException, Options
from cronsim import CronSim, CronSimError

PRESETS = ("daily", "weekly", "monthly")
LATEST_SLOT_LOOKBACK = timedelta(days=400)

# Widening windows: a dense expression is found in the first, a yearly one only in the last,
# and none of them walks more than about a window's worth of slots.
_LOOKBACK_WINDOWS = (
    timedelta(hours=1),
    timedelta(days=1),
    timedelta(days=32),
    LATEST_SLOT_LOOKBACK,
)
_PRESET_DAYS = {"daily": "* * *", "weekly": "* * 1", "monthly": "1 * *"}
_FIELDS = (
    ("minute", "0-59"),
    ("hour", "0-23"),
    ("day-of-month", "1-31"),
    ("month", "1-12 or JAN-DEC"),
    ("day-of-week", "0-6 or SUN-SAT"),
)
_ANY_MOMENT = datetime(2000, 1, 1, tzinfo=UTC)


def cron_from_preset(*, preset: str, at: time) -> str:
    """The cron expression of a preset: daily, weekly on Mondays, monthly on the 1st."""
    if preset not in _PRESET_DAYS:
        raise ValueError(f"Unknown preset {preset!r}; expected one of: {', '.join(PRESETS)}.")
    if at.second or at.microsecond:
        raise ValueError(f"A schedule runs at a whole minute; {at.isoformat()} has seconds.")
    return f"{at.minute} {at.hour} {_PRESET_DAYS[preset]}"


# The every-minute check computes slots for thousands of schedules sharing a few expressions.
@lru_cache(maxsize=1024)
def cron_validate(expression: str) -> str:
    """The expression with single spaces and upper-case names, or ValueError saying why not."""
    fields = expression.upper().split()
    if len(fields) != len(_FIELDS):
        raise ValueError(
            "A cron expression has 5 fields (minute hour day-of-month month day-of-week); "
            f"{expression!r} has {len(fields)}."
        )
    for position, value in enumerate(fields):
        _field_validate(position=position, value=value)
    normalised = " ".join(fields)
    try:
        CronSim(normalised, _ANY_MOMENT)
    except CronSimError:
        # The fields are each valid, so cronsim objects to the combination: a day no month has.
        raise ValueError(
            f"The day-of-month field {fields[2]!r} never occurs in the month field {fields[3]!r}."
        ) from None
    return normalised


def cron_describe(expression: str) -> str:
    """The expression in words ("At 07:00, on day 1 of the month"), times on a 24-hour clock;
    an empty text for one cron-descriptor cannot read.

    cron-descriptor words two restricted day fields as if a day had to match both ("on day 1
    of the month, only on Monday"); cron runs on either (see `days_either`), so there they are
    joined by "and on": "At 06:00, on day 1 of the month and on every Monday"."""
    options = Options()
    options.use_24hour_time_format = True
    try:
        descriptor = ExpressionDescriptor(expression, options)
        if not days_either(expression):
            return descriptor.get_description()
        return _either_days_describe(descriptor, options)
    except (FormatException, ValueError, KeyError):
        return ""


def days_either(expression: str) -> bool:
    """Whether a day matching either day field runs: neither day-of-month nor day-of-week
    starts with `*` (Debian cron's rule, and cronsim's); otherwise a day must match both."""
    fields = expression.split()
    return len(fields) == 5 and not fields[2].startswith("*") and not fields[4].startswith("*")


def _either_days_describe(descriptor: ExpressionDescriptor, options: Options) -> str:
    weekdays = descriptor.get_day_of_week_description().removeprefix(", ")
    # ", only on Monday and Friday" → "on every Monday and Friday"; "Monday through Friday" and
    # "every 2 days of the week, …" read right after "and on" / "and" as they are.
    if weekdays.startswith("only on "):
        weekdays = f"on every {weekdays.removeprefix('only on ')}"
    elif not weekdays.startswith("every "):
        weekdays = f"on {weekdays}"
    description = (
        f"{descriptor.get_time_of_day_description()}"
        f"{descriptor.get_day_of_month_description()} and {weekdays}"
        f"{descriptor.get_month_description()}{descriptor.get_year_description()}"
    )
    description = descriptor.transform_verbosity(description, options.verbose)
    return ExpressionDescriptor.transform_case(description, options.casing_type)


def time_zone_get(time_zone: str) -> ZoneInfo:
    """The IANA zone, or ValueError naming it."""
    try:
        return ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ValueError(f"Unknown time zone {time_zone!r}.") from None


def slots_between(
    *, cron: str, time_zone: str, after: datetime, until: datetime
) -> Iterator[datetime]:
    """Every slot with after < slot <= until, in order, computed lazily."""
    slots = _slots_after(cron=cron, time_zone=time_zone, after=after)
    until = _as_utc(until, name="until")
    return takewhile(lambda slot: slot <= until, slots)


def next_slots(*, cron: str, time_zone: str, after: datetime, count: int = 5) -> list[datetime]:
    """The first `count` slots after `after`."""
    return list(islice(_slots_after(cron=cron, time_zone=time_zone, after=after), count))


def latest_slot(*, cron: str, time_zone: str, at: datetime) -> datetime | None:
    """The most recent slot <= at within `LATEST_SLOT_LOOKBACK`, or None."""
    at = _as_utc(at, name="at")
    latest = latest_slots(
        cron=cron, time_zone=time_zone, after=at - LATEST_SLOT_LOOKBACK, until=at, count=1
    )
    return latest[0] if latest else None


def latest_slots(
    *, cron: str, time_zone: str, after: datetime, until: datetime, count: int
) -> list[datetime]:
    """The `count` most recent slots with after < slot <= until, oldest first; fewer when there
    are not as many, or not as many within `LATEST_SLOT_LOOKBACK` before `until`.

    It walks back from `until` in widening windows, so a week of an every-minute cron costs an
    hour's slots, not the week's."""
    after, until = _as_utc(after, name="after"), _as_utc(until, name="until")
    latest: deque[datetime] = deque()
    for window in _LOOKBACK_WINDOWS:
        start = max(after, until - window)
        slots = slots_between(cron=cron, time_zone=time_zone, after=start, until=until)
        latest = deque(slots, maxlen=count)
        if len(latest) == count or start == after:
            break
    return list(latest)


# The every-minute check asks this for thousands of schedules sharing a few expressions and slots.
@lru_cache(maxsize=4096)
def slot_interval(*, cron: str, time_zone: str, slot: datetime) -> timedelta:
    """How long after `slot` the expression's next slot comes: one interval of the schedule."""
    [following] = next_slots(cron=cron, time_zone=time_zone, after=slot, count=1)
    return following - _as_utc(slot, name="slot")


def _field_validate(*, position: int, value: str) -> None:
    name, allowed = _FIELDS[position]
    if position in (2, 4) and ("L" in value or "#" in value):
        raise ValueError(f"The {name} field {value!r} uses L, LW or #, which are not supported.")
    if position == 4 and any("7" in part.split("/")[0].split("-") for part in value.split(",")):
        raise ValueError(f"The {name} field {value!r} uses 7; write Sunday as 0 or SUN.")
    alone = ["*"] * len(_FIELDS)
    alone[position] = value
    try:
        CronSim(" ".join(alone), _ANY_MOMENT)
    except CronSimError:
        raise ValueError(
            f"The {name} field {value!r} is not valid: use {allowed}, *, ranges (a-b), "
            "steps (*/n) or lists (a,b)."
        ) from None


def _slots_after(*, cron: str, time_zone: str, after: datetime) -> Iterator[datetime]:
    expression = cron_validate(cron)
    zone = time_zone_get(time_zone)
    after = _as_utc(after, name="after")
    return _strictly_after(CronSim(expression, after.astimezone(zone)), after=after)


def _strictly_after(local_slots: Iterator[datetime], *, after: datetime) -> Iterator[datetime]:
    # For wall-clock expressions cronsim walks naive local time, so a start inside a repeated
    # (fall-back) hour can give that hour's first occurrence, which is before `after`.
    previous = after
    for local_slot in local_slots:
        slot = local_slot.astimezone(UTC)
        if slot > previous:
            previous = slot
            yield slot


def _as_utc(moment: datetime, *, name: str) -> datetime:
    if moment.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime, not {moment.isoformat()}.")
    return moment.astimezone(UTC)
