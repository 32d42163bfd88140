from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db.models import QuerySet

from accounts.models import Organization
from events.models import UsageEvent


def events_for(
    *,
    organization: Organization,
    start_date: date | None = None,
    end_date: date | None = None,
    **filters: str,
) -> QuerySet[UsageEvent]:
    """The organisation's events; dates are whole days in the organisation's time zone."""
    events = UsageEvent.objects.filter(organization=organization)
    zone = ZoneInfo(organization.time_zone)
    if start_date:
        events = events.filter(timestamp__gte=datetime.combine(start_date, time.min, tzinfo=zone))
    if end_date:
        next_day = datetime.combine(end_date + timedelta(days=1), time.min, tzinfo=zone)
        events = events.filter(timestamp__lt=next_day)
    return events.filter(**{name: value for name, value in filters.items() if value})
