"""Schedule parameters relative to the slot: tokens resolved at the slot time, not the run time.

A scheduled run reports the period its slot was due for, so a catch-up run on the 3rd for the
slot of the 1st still reports the month before the 1st. Dates are taken in the schedule's time
zone: a slot at 00:30 on 1 April in Europe/Berlin (22:30 UTC on 31 March) is in April.

A token replaces a whole parameter value: the value is a JSON string that is exactly `{name}`,
and it becomes the token's value, which is a string or an int. Nothing is spliced into other
text, and only values are looked at (in nested objects and lists too), never keys. A string
shaped like a token (`{` then a letter or `_`, no other braces, `}`) that is not a known token
is refused with ValueError naming it, so a typo never reaches a report as text; other strings,
JSON text such as `{"a": 1}` included, are left as they are.

Tokens (weeks start on Monday, as in ISO 8601; dates are "YYYY-MM-DD"):

| token | value at a slot on Tuesday 2025-04-15 |
| --- | --- |
| `{today}`, `{yesterday}` | "2025-04-15", "2025-04-14" |
| `{days_ago:N}` (N = 0 to 9999) | `{days_ago:7}` → "2025-04-08" |
| `{this_week_start}`, `{this_week_end}` | "2025-04-14", "2025-04-20" |
| `{last_week_start}`, `{last_week_end}` | "2025-04-07", "2025-04-13" |
| `{this_month_start}`, `{this_month_end}` | "2025-04-01", "2025-04-30" |
| `{last_month_start}`, `{last_month_end}` | "2025-03-01", "2025-03-31" |
| `{this_quarter_start}`, `{this_quarter_end}` | "2025-04-01", "2025-06-30" |
| `{last_quarter_start}`, `{last_quarter_end}` | "2025-01-01", "2025-03-31" |
| `{this_year_start}`, `{this_year_end}` | "2025-01-01", "2025-12-31" |
| `{last_year_start}`, `{last_year_end}` | "2024-01-01", "2024-12-31" |
| `{this_month}`, `{last_month}` | "2025-04", "2025-03" |
| `{this_month.month}`, `{last_month.month}` | "04", "03" (two digits, the `month` format) |
| `{this_month.year}`, `{last_month.year}` | 2025, 2025 (ints) |
"""

import re
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

from reporting.slots import time_zone_get

_TOKEN_SHAPE = re.compile(r"\{([A-Za-z_][^{}]*)\}")
_DAYS_AGO = re.compile(r"days_ago:(\d{1,4})")
_ANY_DAY = date(2000, 1, 1)
_ONE_DAY = timedelta(days=1)

_PERIOD_START: dict[str, Callable[[date], date]] = {
    "week": lambda day: day - timedelta(days=day.weekday()),
    "month": lambda day: day.replace(day=1),
    "quarter": lambda day: date(day.year, (day.month - 1) // 3 * 3 + 1, 1),
    "year": lambda day: date(day.year, 1, 1),
}
# From a period's first day, this many days always lands in the next period.
_PERIOD_LONGEST = {"week": 7, "month": 31, "quarter": 92, "year": 366}


def parameters_resolve(parameters: dict, *, slot: datetime, time_zone: str) -> dict:
    """A copy of the parameters with every token replaced by its value on the slot's local date."""
    if slot.utcoffset() is None:
        raise ValueError(f"The slot must be an aware datetime, not {slot.isoformat()}.")
    day = slot.astimezone(time_zone_get(time_zone)).date()
    return _resolve(parameters, day=day, path="")


def tokens_validate(parameters: dict) -> None:
    """ValueError naming the first unknown token, for when a schedule is saved."""
    # Resolving at any date finds exactly the unknown tokens: every known one resolves anywhere.
    _resolve(parameters, day=_ANY_DAY, path="")


def _resolve(value: Any, *, day: date, path: str) -> Any:
    if isinstance(value, dict):
        return {
            key: _resolve(item, day=day, path=f"{path}.{key}" if path else key)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [
            _resolve(item, day=day, path=f"{path}[{index}]") for index, item in enumerate(value)
        ]
    if isinstance(value, str) and (token := _TOKEN_SHAPE.fullmatch(value)):
        return _token_value(token.group(1), day=day, path=path)
    return value


def _token_value(name: str, *, day: date, path: str) -> str | int:
    if days_ago := _DAYS_AGO.fullmatch(name):
        return (day - timedelta(days=int(days_ago.group(1)))).isoformat()
    if name not in _TOKENS:
        raise ValueError(
            f"Unknown token {{{name}}} in parameter {path!r}; "
            f"valid tokens: {', '.join(TOKEN_NAMES)}."
        )
    return _TOKENS[name](day)


def _period(kind: str, *, which: str, day: date) -> tuple[date, date]:
    start = _PERIOD_START[kind](day)
    if which == "last":
        start = _PERIOD_START[kind](start - _ONE_DAY)
    end = _PERIOD_START[kind](start + timedelta(days=_PERIOD_LONGEST[kind])) - _ONE_DAY
    return start, end


def _edge_token(kind: str, which: str, edge: str) -> Callable[[date], str]:
    index = 0 if edge == "start" else 1
    return lambda day: _period(kind, which=which, day=day)[index].isoformat()


def _month_token(which: str, render: Callable[[date], str | int]) -> Callable[[date], str | int]:
    return lambda day: render(_period("month", which=which, day=day)[0])


_TOKENS: dict[str, Callable[[date], str | int]] = {
    "today": lambda day: day.isoformat(),
    "yesterday": lambda day: (day - _ONE_DAY).isoformat(),
    **{
        f"{which}_{kind}_{edge}": _edge_token(kind, which, edge)
        for which in ("this", "last")
        for kind in _PERIOD_START
        for edge in ("start", "end")
    },
    **{
        f"{which}_month{part}": _month_token(which, render)
        for which in ("this", "last")
        for part, render in (
            ("", lambda first: first.strftime("%Y-%m")),
            (".month", lambda first: f"{first.month:02d}"),
            (".year", lambda first: first.year),
        )
    },
}

# Every token as written in parameters, for error messages and help texts.
TOKEN_NAMES = (*(f"{{{name}}}" for name in _TOKENS), "{days_ago:N}")
