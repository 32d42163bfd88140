from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db import models
from django.db.models import QuerySet

from accounts.models import Organization


def records_for(
    *,
    model: type[models.Model],
    date_field: str,
    organization: Organization,
    start_date: date | None = None,
    end_date: date | None = None,
    **filters: str,
) -> QuerySet:
    """The organisation's rows of one analytics table. Dates are whole days in the
    organisation's time zone; on a date column (not a time) they are compared as they are."""
    rows = model.objects.filter(organization=organization)
    if isinstance(model._meta.get_field(date_field), models.DateTimeField):
        zone = ZoneInfo(organization.time_zone)
        if start_date:
            rows = rows.filter(
                **{f"{date_field}__gte": datetime.combine(start_date, time.min, tzinfo=zone)}
            )
        if end_date:
            next_day = datetime.combine(end_date + timedelta(days=1), time.min, tzinfo=zone)
            rows = rows.filter(**{f"{date_field}__lt": next_day})
    else:
        if start_date:
            rows = rows.filter(**{f"{date_field}__gte": start_date})
        if end_date:
            rows = rows.filter(**{f"{date_field}__lte": end_date})
    return rows.filter(**{name: value for name, value in filters.items() if value})
