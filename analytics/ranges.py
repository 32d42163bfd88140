"""The range of local days an analytics answer or report covers: the defaults and the limit
that the endpoints, the report requests and the report datasets share."""

from datetime import date, timedelta

from accounts.models import Organization
from analytics.cache import organization_today

DEFAULT_RANGE_DAYS = 30
MAX_RANGE_DAYS = 731


class RangeError(ValueError):
    def __init__(self, field: str, reason: str):
        super().__init__(reason)
        self.field, self.reason = field, reason


def range_default_start(end: date) -> date:
    return end - timedelta(days=DEFAULT_RANGE_DAYS - 1)


def range_resolve(
    *, organization: Organization, start_date: date | None, end_date: date | None
) -> tuple[date, date]:
    """The days asked for, defaults filled in (the 30 days up to today); RangeError naming the
    field when they are wrong."""
    end = end_date or organization_today(organization)
    start = start_date or range_default_start(end)
    if start > end:
        raise RangeError("start_date", "The start date is after the end date.")
    if (end - start).days >= MAX_RANGE_DAYS:
        raise RangeError("start_date", f"A range holds at most {MAX_RANGE_DAYS} days.")
    return start, end
