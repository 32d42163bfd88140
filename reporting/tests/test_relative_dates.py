import copy
import re
from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest
import time_machine

from reporting.relative_dates import TOKEN_NAMES, parameters_resolve, tokens_validate
from reporting.slots import cron_from_preset, slots_between

BERLIN = "Europe/Berlin"
BILLING_PARAMETERS = {"month": "{last_month.month}", "year": "{last_month.year}"}


def at_local(time_zone: str, *parts: int) -> datetime:
    return datetime(*parts, tzinfo=ZoneInfo(time_zone))


def resolve_one(token: str, slot: datetime, time_zone: str = BERLIN):
    return parameters_resolve({"value": token}, slot=slot, time_zone=time_zone)["value"]


def test_monthly_billing_summary_on_the_1st_reports_the_previous_month():
    slot = at_local(BERLIN, 2025, 4, 1, 6, 0)

    assert parameters_resolve(BILLING_PARAMETERS, slot=slot, time_zone=BERLIN) == {
        "month": "03",
        "year": 2025,
    }


def test_january_slot_reports_december_of_the_previous_year():
    slot = at_local(BERLIN, 2025, 1, 1, 6, 0)

    assert parameters_resolve(BILLING_PARAMETERS, slot=slot, time_zone=BERLIN) == {
        "month": "12",
        "year": 2024,
    }


def test_slot_just_after_local_midnight_resolves_in_local_time_not_utc():
    still_march_in_utc = datetime(2025, 3, 31, 22, 30, tzinfo=UTC)

    resolved = parameters_resolve(BILLING_PARAMETERS, slot=still_march_in_utc, time_zone=BERLIN)

    assert resolved == {"month": "03", "year": 2025}
    assert resolve_one("{today}", still_march_in_utc) == "2025-04-01"


def test_slot_just_before_local_midnight_west_of_utc_resolves_in_local_time():
    already_april_in_utc = datetime(2025, 4, 1, 2, 30, tzinfo=UTC)

    resolved = parameters_resolve(
        BILLING_PARAMETERS, slot=already_april_in_utc, time_zone="America/New_York"
    )

    assert resolved == {"month": "02", "year": 2025}


@time_machine.travel(datetime(2025, 7, 3, 9, 0, tzinfo=UTC), tick=False)
def test_catch_up_runs_long_after_their_slots_report_the_months_they_were_due_for():
    cron = cron_from_preset(preset="monthly", at=time(6, 0))
    missed = slots_between(
        cron=cron,
        time_zone=BERLIN,
        after=datetime(2025, 2, 15, tzinfo=UTC),
        until=datetime.now(tz=UTC),
    )

    reported = [
        parameters_resolve(BILLING_PARAMETERS, slot=slot, time_zone=BERLIN) for slot in missed
    ]

    assert reported == [
        {"month": "02", "year": 2025},
        {"month": "03", "year": 2025},
        {"month": "04", "year": 2025},
        {"month": "05", "year": 2025},
        {"month": "06", "year": 2025},
    ]


# The table in the module docstring: a slot on Tuesday 2025-04-15 in Berlin.
EVERY_TOKEN_ON_TUESDAY_15_APRIL_2025 = {
    "{today}": "2025-04-15",
    "{yesterday}": "2025-04-14",
    "{days_ago:0}": "2025-04-15",
    "{days_ago:7}": "2025-04-08",
    "{days_ago:365}": "2024-04-15",
    "{this_week_start}": "2025-04-14",
    "{this_week_end}": "2025-04-20",
    "{last_week_start}": "2025-04-07",
    "{last_week_end}": "2025-04-13",
    "{this_month_start}": "2025-04-01",
    "{this_month_end}": "2025-04-30",
    "{last_month_start}": "2025-03-01",
    "{last_month_end}": "2025-03-31",
    "{this_quarter_start}": "2025-04-01",
    "{this_quarter_end}": "2025-06-30",
    "{last_quarter_start}": "2025-01-01",
    "{last_quarter_end}": "2025-03-31",
    "{this_year_start}": "2025-01-01",
    "{this_year_end}": "2025-12-31",
    "{last_year_start}": "2024-01-01",
    "{last_year_end}": "2024-12-31",
    "{this_month}": "2025-04",
    "{last_month}": "2025-03",
    "{this_month.month}": "04",
    "{last_month.month}": "03",
    "{this_month.year}": 2025,
    "{last_month.year}": 2025,
}


@pytest.mark.parametrize(("token", "expected"), EVERY_TOKEN_ON_TUESDAY_15_APRIL_2025.items())
def test_every_token_at_a_known_slot(token, expected):
    slot = at_local(BERLIN, 2025, 4, 15, 6, 0)

    assert resolve_one(token, slot) == expected


def test_every_documented_token_is_tested():
    tested = {
        "{days_ago:N}" if token.startswith("{days_ago:") else token
        for token in EVERY_TOKEN_ON_TUESDAY_15_APRIL_2025
    }

    assert tested == set(TOKEN_NAMES)


@pytest.mark.parametrize(
    ("local_day", "expected"),
    [
        ((2025, 1, 1), ("2025-01-01", "2025-03-31", "2024-10-01", "2024-12-31")),
        ((2025, 3, 31), ("2025-01-01", "2025-03-31", "2024-10-01", "2024-12-31")),
        ((2025, 4, 1), ("2025-04-01", "2025-06-30", "2025-01-01", "2025-03-31")),
        ((2025, 7, 1), ("2025-07-01", "2025-09-30", "2025-04-01", "2025-06-30")),
        ((2025, 9, 30), ("2025-07-01", "2025-09-30", "2025-04-01", "2025-06-30")),
        ((2025, 10, 1), ("2025-10-01", "2025-12-31", "2025-07-01", "2025-09-30")),
        ((2025, 12, 31), ("2025-10-01", "2025-12-31", "2025-07-01", "2025-09-30")),
    ],
)
def test_quarter_boundaries(local_day, expected):
    tokens = ("this_quarter_start", "this_quarter_end", "last_quarter_start", "last_quarter_end")
    slot = at_local(BERLIN, *local_day, 0, 30)

    resolved = parameters_resolve({t: f"{{{t}}}" for t in tokens}, slot=slot, time_zone=BERLIN)

    assert tuple(resolved.values()) == expected


def test_first_day_of_the_year_looks_back_into_the_previous_year():
    slot = at_local(BERLIN, 2025, 1, 1, 6, 0)  # a Wednesday

    assert resolve_one("{yesterday}", slot) == "2024-12-31"
    assert resolve_one("{this_week_start}", slot) == "2024-12-30"
    assert resolve_one("{this_week_end}", slot) == "2025-01-05"
    assert resolve_one("{last_week_start}", slot) == "2024-12-23"
    assert resolve_one("{last_week_end}", slot) == "2024-12-29"
    assert resolve_one("{last_month_start}", slot) == "2024-12-01"
    assert resolve_one("{last_month_end}", slot) == "2024-12-31"
    assert resolve_one("{last_month}", slot) == "2024-12"
    assert resolve_one("{this_year_start}", slot) == "2025-01-01"
    assert resolve_one("{this_year_end}", slot) == "2025-12-31"
    assert resolve_one("{last_year_start}", slot) == "2024-01-01"
    assert resolve_one("{last_year_end}", slot) == "2024-12-31"


def test_last_day_of_the_year_is_still_in_that_year():
    slot = at_local(BERLIN, 2025, 12, 31, 23, 30)

    assert resolve_one("{this_year_end}", slot) == "2025-12-31"
    assert resolve_one("{this_month_end}", slot) == "2025-12-31"
    assert resolve_one("{last_year_end}", slot) == "2024-12-31"


@pytest.mark.parametrize(
    ("local_day", "last_month_end", "this_month_end"),
    [
        ((2024, 3, 10), "2024-02-29", "2024-03-31"),
        ((2025, 3, 10), "2025-02-28", "2025-03-31"),
        ((2024, 2, 10), "2024-01-31", "2024-02-29"),
        ((2025, 5, 31), "2025-04-30", "2025-05-31"),
    ],
)
def test_month_ends_follow_month_lengths_and_leap_years(local_day, last_month_end, this_month_end):
    slot = at_local(BERLIN, *local_day, 6, 0)

    assert resolve_one("{last_month_end}", slot) == last_month_end
    assert resolve_one("{this_month_end}", slot) == this_month_end


@pytest.mark.parametrize("local_day", [(2025, 4, 14), (2025, 4, 17), (2025, 4, 20)])
def test_weeks_run_from_monday_to_sunday(local_day):
    slot = at_local(BERLIN, *local_day, 6, 0)

    assert resolve_one("{this_week_start}", slot) == "2025-04-14"
    assert resolve_one("{this_week_end}", slot) == "2025-04-20"
    assert resolve_one("{last_week_start}", slot) == "2025-04-07"


def test_tokens_in_nested_objects_and_lists_are_resolved_and_everything_else_is_kept():
    parameters = {
        "range": {"from": "{last_month_start}", "to": "{last_month_end}"},
        "days": ["{yesterday}", "{today}", 3],
        "title": "Sales from {today}",
        "raw_json": '{"today": 1}',
        "braces": "{{today}}",
        "spaced": "{ today }",
        "flags": [True, None, 1.5],
        "{today}": "key stays",
    }
    original = copy.deepcopy(parameters)

    resolved = parameters_resolve(
        parameters, slot=at_local(BERLIN, 2025, 4, 15, 6), time_zone=BERLIN
    )

    assert resolved == {
        "range": {"from": "2025-03-01", "to": "2025-03-31"},
        "days": ["2025-04-14", "2025-04-15", 3],
        "title": "Sales from {today}",
        "raw_json": '{"today": 1}',
        "braces": "{{today}}",
        "spaced": "{ today }",
        "flags": [True, None, 1.5],
        "{today}": "key stays",
    }
    assert parameters == original


@pytest.mark.parametrize("token", ["{last_mnth}", "{Today}", "{days_ago}", "{days_ago:-1}"])
def test_unknown_token_is_refused_naming_it_and_listing_the_valid_ones(token):
    parameters = {"filters": {"since": [token]}}

    with pytest.raises(ValueError, match=re.escape("valid tokens: {today}")) as error:
        parameters_resolve(parameters, slot=at_local(BERLIN, 2025, 4, 1, 6), time_zone=BERLIN)

    message = str(error.value)
    assert f"Unknown token {token} in parameter 'filters.since[0]'" in message
    assert "{last_month.year}" in message
    assert "{days_ago:N}" in message


def test_tokens_validate_accepts_known_tokens_and_refuses_unknown_ones():
    tokens_validate({"month": "{last_month.month}", "days": ["{days_ago:30}"], "n": 5})

    with pytest.raises(
        ValueError, match=re.escape("Unknown token {next_month} in parameter 'month'")
    ):
        tokens_validate({"month": "{next_month}"})


def test_bad_time_zone_and_naive_slot_are_refused():
    with pytest.raises(ValueError, match="Unknown time zone 'Europe/Nowhere'"):
        parameters_resolve(
            BILLING_PARAMETERS, slot=at_local(BERLIN, 2025, 4, 1, 6), time_zone="Europe/Nowhere"
        )
    with pytest.raises(ValueError, match="aware datetime"):
        parameters_resolve(BILLING_PARAMETERS, slot=datetime(2025, 4, 1, 6), time_zone=BERLIN)
