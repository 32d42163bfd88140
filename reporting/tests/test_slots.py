import re
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from itertools import islice, pairwise
from zoneinfo import ZoneInfo

import pytest

from reporting.slots import (
    cron_describe,
    cron_from_preset,
    cron_validate,
    latest_slot,
    latest_slots,
    next_slots,
    slot_interval,
    slots_between,
    time_zone_get,
)

BERLIN = "Europe/Berlin"
NEW_YORK = "America/New_York"


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def local(slot: datetime, time_zone: str) -> datetime:
    return slot.astimezone(ZoneInfo(time_zone))


def between(cron: str, time_zone: str, after: datetime, until: datetime) -> list[datetime]:
    return list(slots_between(cron=cron, time_zone=time_zone, after=after, until=until))


def test_daily_six_in_berlin_stays_six_local_across_both_dst_changes():
    slots = between("0 6 * * *", BERLIN, utc(2025, 3, 25), utc(2025, 11, 5))

    days = [local(slot, BERLIN).date() for slot in slots]
    assert days == [date(2025, 3, 25) + timedelta(days=n) for n in range(len(days))]
    assert days[-1] == date(2025, 11, 4)
    assert {(local(slot, BERLIN).hour, local(slot, BERLIN).minute) for slot in slots} == {(6, 0)}
    by_day = dict(zip(days, slots, strict=True))
    assert by_day[date(2025, 3, 29)] == utc(2025, 3, 29, 5)
    assert by_day[date(2025, 3, 30)] == utc(2025, 3, 30, 4)
    assert by_day[date(2025, 10, 25)] == utc(2025, 10, 25, 4)
    assert by_day[date(2025, 10, 26)] == utc(2025, 10, 26, 5)


def test_slot_in_the_spring_forward_gap_runs_once_at_the_first_valid_local_time():
    slots = between("30 2 * * *", BERLIN, utc(2025, 3, 29, 12), utc(2025, 3, 30, 12))

    assert slots == [utc(2025, 3, 30, 1, 0)]
    assert local(slots[0], BERLIN).time() == time(3, 0)


def test_slot_in_the_repeated_hour_runs_once_at_its_first_occurrence_in_berlin():
    slots = between("30 2 * * *", BERLIN, utc(2025, 10, 25, 12), utc(2025, 10, 26, 12))

    assert slots == [utc(2025, 10, 26, 0, 30)]
    assert local(slots[0], BERLIN).utcoffset() == timedelta(hours=2)


def test_slot_in_the_repeated_hour_runs_once_at_its_first_occurrence_in_new_york():
    slots = between("30 1 * * *", NEW_YORK, utc(2025, 11, 1, 12), utc(2025, 11, 2, 12))

    assert slots == [utc(2025, 11, 2, 5, 30)]


def test_starting_inside_the_repeated_hour_does_not_give_its_first_occurrence_again():
    second_pass_0110 = utc(2025, 11, 2, 6, 10)

    slots = next_slots(cron="30 1 * * *", time_zone=NEW_YORK, after=second_pass_0110, count=1)

    assert slots == [utc(2025, 11, 3, 6, 30)]


def test_slot_moved_out_of_the_gap_merges_with_the_slot_already_there():
    slots = between("0,30 2,3 * * *", BERLIN, utc(2025, 3, 29, 23), utc(2025, 3, 30, 12))

    assert slots == [utc(2025, 3, 30, 1, 0), utc(2025, 3, 30, 1, 30)]


def test_hourly_expression_runs_at_both_real_0230s_on_fall_back_day():
    midnight_cest, midnight_cet = utc(2025, 10, 25, 22), utc(2025, 10, 26, 23)

    slots = between("30 * * * *", BERLIN, midnight_cest, midnight_cet)

    assert len(slots) == 25
    assert [slot for slot in slots if local(slot, BERLIN).hour == 2] == [
        utc(2025, 10, 26, 0, 30),
        utc(2025, 10, 26, 1, 30),
    ]
    assert {later - earlier for earlier, later in pairwise(slots)} == {timedelta(hours=1)}


def test_hourly_expression_has_no_slot_in_the_missing_hour_on_spring_forward_day():
    midnight_cet, midnight_cest = utc(2025, 3, 29, 23), utc(2025, 3, 30, 22)

    slots = between("30 * * * *", BERLIN, midnight_cet, midnight_cest)

    assert len(slots) == 23
    assert 2 not in {local(slot, BERLIN).hour for slot in slots}
    assert {later - earlier for earlier, later in pairwise(slots)} == {timedelta(hours=1)}


def test_interval_within_an_hour_follows_the_clock_on_change_days():
    spring = between("*/20 2 * * *", BERLIN, utc(2025, 3, 29, 23), utc(2025, 3, 30, 22))
    autumn = between("*/20 2 * * *", BERLIN, utc(2025, 10, 25, 22), utc(2025, 10, 26, 23))

    assert spring == []
    assert len(autumn) == 6
    assert autumn[0] == utc(2025, 10, 26, 0, 0)
    assert autumn[-1] == utc(2025, 10, 26, 1, 40)


@pytest.mark.parametrize(
    "time_zone",
    [BERLIN, NEW_YORK, "Australia/Lord_Howe", "America/Havana", "America/Santiago", "UTC"],
)
@pytest.mark.parametrize("cron", ["30 2 * * *", "0 0 * * *", "45 1 * * *"])
def test_daily_expression_runs_once_every_local_day_of_a_year(cron, time_zone):
    slots = between(cron, time_zone, utc(2025, 1, 1, 12), utc(2026, 1, 1, 12))

    assert len(slots) == 365
    assert len({local(slot, time_zone).date() for slot in slots}) == 365
    assert slots == sorted(set(slots))


@pytest.mark.parametrize("time_zone", [BERLIN, "Australia/Lord_Howe", "America/Havana"])
def test_hourly_slots_are_distinct_increasing_instants_for_a_year(time_zone):
    slots = between("30 * * * *", time_zone, utc(2025, 1, 1), utc(2026, 1, 1))

    assert all(earlier < later for earlier, later in pairwise(slots))
    assert all(local(slot, time_zone).minute == 30 for slot in slots)


def test_monthly_expression_gives_the_first_of_every_month_at_six_local():
    slots = between("0 6 1 * *", BERLIN, utc(2024, 12, 31), utc(2025, 12, 31))

    assert [local(slot, BERLIN).date() for slot in slots] == [
        date(2025, month, 1) for month in range(1, 13)
    ]
    assert {local(slot, BERLIN).time() for slot in slots} == {time(6, 0)}


def test_three_day_outage_with_hourly_cron_yields_72_slots_lazily():
    slots = slots_between(
        cron="0 * * * *", time_zone=BERLIN, after=utc(2025, 6, 1), until=utc(2025, 6, 4)
    )

    assert isinstance(slots, Iterator)
    assert next(slots) == utc(2025, 6, 1, 1)
    rest = list(slots)
    assert len(rest) == 71
    assert rest[-1] == utc(2025, 6, 4)


def test_slots_of_a_year_of_minutes_are_computed_one_at_a_time():
    tracemalloc.start()
    try:
        slots = slots_between(
            cron="* * * * *", time_zone=BERLIN, after=utc(2025, 6, 1), until=utc(2026, 6, 1)
        )
        first = list(islice(slots, 3))
        _, peak_bytes = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert first == [utc(2025, 6, 1, 0, 1), utc(2025, 6, 1, 0, 2), utc(2025, 6, 1, 0, 3)]
    assert peak_bytes < 100_000  # the 525,600 slots as a list would take tens of megabytes


def test_slot_equal_to_after_is_excluded_and_equal_to_until_is_included():
    slot = utc(2025, 6, 2, 4)

    assert between("0 6 * * *", BERLIN, slot, slot + timedelta(days=1)) == [
        slot + timedelta(days=1)
    ]
    assert between("0 6 * * *", BERLIN, slot - timedelta(seconds=1), slot) == [slot]


def test_next_slots_gives_the_next_five_weekdays():
    friday_afternoon = utc(2025, 6, 6, 12)

    slots = next_slots(cron="0 6 * * 1-5", time_zone=BERLIN, after=friday_afternoon)

    assert slots == [utc(2025, 6, day, 4) for day in (9, 10, 11, 12, 13)]


def test_both_day_fields_restricted_run_on_either_kind_of_day():
    # 0 6 1 * 1: the 1st of the month (a Friday in January 2027) and every Monday.
    slots = next_slots(cron="0 6 1 * 1", time_zone=BERLIN, after=utc(2026, 12, 22), count=5)

    days = [f"{local(slot, BERLIN):%a %Y-%m-%d %H:%M}" for slot in slots]
    assert days == [
        "Mon 2026-12-28 06:00", "Fri 2027-01-01 06:00", "Mon 2027-01-04 06:00",
        "Mon 2027-01-11 06:00", "Mon 2027-01-18 06:00",
    ]  # fmt: skip


def test_a_day_field_starting_with_a_star_must_match_as_well():
    # */2 in day-of-month: Debian cron's AND, so Mondays on odd days of the month only.
    slots = next_slots(cron="0 6 */2 * 1", time_zone=BERLIN, after=utc(2026, 12, 22), count=3)

    assert [local(slot, BERLIN).date() for slot in slots] == [
        date(2027, 1, 11), date(2027, 1, 25), date(2027, 2, 1),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("cron", "words"),
    [
        ("0 6 1 * 1", "At 06:00, on day 1 of the month and on every Monday"),
        ("30 8 1,15 * MON-FRI",
         "At 08:30, on day 1 and 15 of the month and on Monday through Friday"),
        ("0 7 1-7 * 0,6", "At 07:00, between day 1 and 7 of the month and on every Sunday and "
                          "Saturday"),
        ("*/15 * 1 6 1", "Every 15 minutes, on day 1 of the month and on every Monday, only in "
                         "June"),
        # One day field only, or one starting with *, is worded as cron-descriptor words it.
        ("0 7 1 * *", "At 07:00, on day 1 of the month"),
        ("0 6 * * 1", "At 06:00, only on Monday"),
        ("0 6 */2 * 1", "At 06:00, every 2 days, only on Monday"),
        ("not cron", ""),
    ],
)  # fmt: skip
def test_cron_in_words_says_either_day_when_both_day_fields_are_restricted(cron, words):
    assert cron_describe(cron) == words


def test_next_slots_gives_as_many_as_asked():
    slots = next_slots(cron="*/15 * * * *", time_zone=BERLIN, after=utc(2025, 6, 6, 12), count=2)

    assert slots == [utc(2025, 6, 6, 12, 15), utc(2025, 6, 6, 12, 30)]


@pytest.mark.parametrize(
    ("cron", "at", "expected"),
    [
        ("0 6 1 * *", utc(2025, 4, 15), utc(2025, 4, 1, 4)),
        ("0 6 1 * *", utc(2025, 4, 1, 4), utc(2025, 4, 1, 4)),
        ("0 6 1 * *", utc(2025, 4, 1, 3, 59), utc(2025, 3, 1, 5)),
        ("*/5 * * * *", utc(2025, 4, 15, 12, 7, 30), utc(2025, 4, 15, 12, 5)),
        ("0 0 1 1 *", utc(2025, 12, 31), utc(2024, 12, 31, 23)),
        ("30 2 * * *", utc(2025, 3, 30, 1, 30), utc(2025, 3, 30, 1, 0)),
    ],
)
def test_latest_slot_is_the_most_recent_at_or_before(cron, at, expected):
    assert latest_slot(cron=cron, time_zone=BERLIN, at=at) == expected


def test_latest_slots_are_the_most_recent_after_a_moment_oldest_first():
    slots = latest_slots(
        cron="0 6 * * *", time_zone=BERLIN, after=utc(2025, 5, 1), until=utc(2025, 5, 5, 9),
        count=3,
    )  # fmt: skip
    assert slots == [utc(2025, 5, 3, 4), utc(2025, 5, 4, 4), utc(2025, 5, 5, 4)]


def test_latest_slots_are_fewer_when_there_are_not_as_many_after_the_moment():
    slots = latest_slots(
        cron="*/15 * * * *", time_zone=BERLIN, after=utc(2025, 5, 5, 11, 30),
        until=utc(2025, 5, 5, 12, 10), count=10,
    )  # fmt: skip
    assert slots == [utc(2025, 5, 5, 11, 45), utc(2025, 5, 5, 12, 0)]
    assert latest_slots(
        cron="0 6 * * *", time_zone=BERLIN, after=utc(2025, 5, 5, 5), until=utc(2025, 5, 5, 9),
        count=1,
    ) == []  # fmt: skip


def test_latest_slots_of_a_year_of_minutes_walk_only_the_last_hour():
    tracemalloc.start()
    try:
        slots = latest_slots(
            cron="* * * * *", time_zone=BERLIN, after=utc(2025, 6, 1), until=utc(2026, 6, 1),
            count=3,
        )  # fmt: skip
        _, peak_bytes = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert slots == [utc(2026, 5, 31, 23, 58), utc(2026, 5, 31, 23, 59), utc(2026, 6, 1)]
    assert peak_bytes < 100_000


@pytest.mark.parametrize(
    ("cron", "slot", "expected"),
    [
        ("* * * * *", utc(2025, 6, 2, 12, 7), timedelta(minutes=1)),
        ("*/5 * * * *", utc(2025, 6, 2, 12, 5), timedelta(minutes=5)),
        ("0 * * * *", utc(2025, 6, 2, 12), timedelta(hours=1)),
        ("0 6 * * *", utc(2025, 6, 2, 4), timedelta(days=1)),
        ("0 6 * * *", utc(2025, 3, 29, 5), timedelta(hours=23)),  # to the spring-forward day
        ("0,1 * * * *", utc(2025, 6, 2, 12), timedelta(minutes=1)),
        ("0,1 * * * *", utc(2025, 6, 2, 12, 1), timedelta(minutes=59)),
        ("0 6 1 * *", utc(2025, 4, 1, 4), timedelta(days=30)),
    ],
)
def test_slot_interval_is_the_time_until_the_next_slot(cron, slot, expected):
    assert slot_interval(cron=cron, time_zone=BERLIN, slot=slot) == expected


def test_latest_slot_looks_back_400_days_only():
    assert latest_slot(cron="0 0 29 2 *", time_zone=BERLIN, at=utc(2025, 3, 1)) == utc(
        2024, 2, 28, 23
    )
    assert latest_slot(cron="0 0 29 2 *", time_zone=BERLIN, at=utc(2026, 3, 1)) is None


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("* * * *", "5 fields"),
        ("0 0 0 * * *", "5 fields"),
        ("", "5 fields"),
        ("61 * * * *", "minute field '61'"),
        ("* 24 * * *", "hour field '24'"),
        ("0 0 0 * *", "day-of-month field '0'"),
        ("0 0 * 13 *", "month field '13'"),
        ("* * * * MON-XYZ", "day-of-week field 'MON-XYZ'"),
        ("*/0 * * * *", "minute field '*/0'"),
        ("5-2 * * * *", "minute field '5-2'"),
        ("0 0 L * *", "day-of-month field 'L' uses L, LW or #"),
        ("0 0 * * 5#2", "day-of-week field '5#2' uses L, LW or #"),
        ("0 0 * * 7", "day-of-week field '7' uses 7; write Sunday as 0 or SUN"),
        ("0 0 * * 1-7", "day-of-week field '1-7' uses 7"),
        ("0 0 * * 1,7/2", "day-of-week field '1,7/2' uses 7"),
        ("0 0 30 2 *", "day-of-month field '30' never occurs in the month field '2'"),
    ],
)
def test_invalid_expression_is_refused_naming_the_problem(expression, reason):
    with pytest.raises(ValueError, match=re.escape(reason)):
        cron_validate(expression)


def test_valid_expression_comes_back_normalised():
    assert cron_validate("  0  6 * jul mon-fri ") == "0 6 * JUL MON-FRI"
    assert cron_validate("*/15 8-18 1,15 * 0,6") == "*/15 8-18 1,15 * 0,6"
    assert cron_validate("0 0 17 * */7") == "0 0 17 * */7"


def test_slot_functions_refuse_invalid_expressions_zones_and_naive_datetimes():
    with pytest.raises(ValueError, match="minute field"):
        next_slots(cron="61 * * * *", time_zone=BERLIN, after=utc(2025, 1, 1))
    with pytest.raises(ValueError, match="Unknown time zone 'Mars/Olympus'"):
        slots_between(
            cron="0 6 * * *", time_zone="Mars/Olympus", after=utc(2025, 1, 1), until=utc(2025, 2, 1)
        )
    with pytest.raises(ValueError, match="after must be an aware datetime"):
        next_slots(cron="0 6 * * *", time_zone=BERLIN, after=datetime(2025, 1, 1))
    with pytest.raises(ValueError, match="at must be an aware datetime"):
        latest_slot(cron="0 6 * * *", time_zone=BERLIN, at=datetime(2025, 1, 1))


def test_time_zone_get_answers_the_zone_or_names_the_unknown_one():
    assert time_zone_get(BERLIN) == ZoneInfo(BERLIN)
    with pytest.raises(ValueError, match=re.escape("Unknown time zone '../etc'")):
        time_zone_get("../etc")


@pytest.mark.parametrize(
    ("preset", "expected"),
    [("daily", "30 7 * * *"), ("weekly", "30 7 * * 1"), ("monthly", "30 7 1 * *")],
)
def test_preset_becomes_a_cron_expression(preset, expected):
    assert cron_from_preset(preset=preset, at=time(7, 30)) == expected


def test_weekly_preset_runs_on_mondays_at_the_local_time():
    cron = cron_from_preset(preset="weekly", at=time(7, 30))

    slots = next_slots(cron=cron, time_zone=BERLIN, after=utc(2025, 3, 20), count=3)

    assert [local(slot, BERLIN).weekday() for slot in slots] == [0, 0, 0]
    assert {local(slot, BERLIN).time() for slot in slots} == {time(7, 30)}
    assert slots[0] == utc(2025, 3, 24, 6, 30)
    assert slots[1] == utc(2025, 3, 31, 5, 30)


def test_unknown_preset_and_time_with_seconds_are_refused():
    with pytest.raises(ValueError, match="Unknown preset 'hourly'; expected one of: daily"):
        cron_from_preset(preset="hourly", at=time(7, 30))
    with pytest.raises(ValueError, match="whole minute"):
        cron_from_preset(preset="daily", at=time(7, 30, 15))
