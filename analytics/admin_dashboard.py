"""The analytics dashboard in the admin site, for admins of an organisation.

The page holds the controls and the chart definitions; its numbers come from the browser
fetching `/api/v1/analytics/*` with the session, so every number on it is the API's own.
Access follows the admin's tenant rules: the organisations the user administers (all of them for
superusers); another organisation is a 404, a user who administers none gets a 403.
"""

from collections.abc import Callable
from datetime import date, timedelta

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest
from django.middleware.csrf import get_token
from django.template.response import TemplateResponse
from django.urls import reverse

from accounts.models import Organization
from accounts.selectors import organizations_administered
from analytics.cache import organization_today
from analytics.models import AnalyticsReportRequest
from analytics.sections import PERIODS


def _month_start(day: date) -> date:
    return day.replace(day=1)


def _last_month(today: date) -> tuple[date, date]:
    end = _month_start(today) - timedelta(days=1)
    return _month_start(end), end


# Ranges of local days ending today in the organisation's time zone (last month: a whole month).
RANGE_PRESETS: dict[str, tuple[str, Callable[[date], tuple[date, date]]]] = {
    "last_7": ("Last 7 days", lambda today: (today - timedelta(days=6), today)),
    "last_30": ("Last 30 days", lambda today: (today - timedelta(days=29), today)),
    "last_90": ("Last 90 days", lambda today: (today - timedelta(days=89), today)),
    "this_month": ("This month", lambda today: (_month_start(today), today)),
    "last_month": ("Last month", _last_month),
    "this_year": ("This year", lambda today: (today.replace(month=1, day=1), today)),
}
DEFAULT_RANGE = "last_30"
DEFAULT_PERIOD = "daily"


def dashboard_organization(request: HttpRequest) -> tuple[Organization, list[Organization]]:
    """The organisation the page shows (`?org=` slug, else the first) and the user's choices."""
    choices = list(organizations_administered(user=request.user).distinct().order_by("name"))
    if not choices:
        raise PermissionDenied("The analytics dashboard is for admins of an organisation.")
    requested = request.GET.get("org")
    if not requested:
        return choices[0], choices
    for organization in choices:
        if organization.slug == requested:
            return organization, choices
    raise Http404("No such organisation.")


def previous_range(start: date, end: date) -> tuple[date, date]:
    """The range of the same length just before, for the cards' growth."""
    length = end - start + timedelta(days=1)
    return start - length, start - timedelta(days=1)


def analytics_dashboard(request: HttpRequest) -> TemplateResponse:
    organization, choices = dashboard_organization(request)
    preset = request.GET.get("range")
    preset = preset if preset in RANGE_PRESETS else DEFAULT_RANGE
    period = request.GET.get("period")
    period = period if period in PERIODS else DEFAULT_PERIOD
    start, end = RANGE_PRESETS[preset][1](organization_today(organization))
    previous_start, previous_end = previous_range(start, end)
    config = {
        "organization": organization.slug,
        "time_zone": organization.time_zone,
        "start_date": start.isoformat(),
        "end_date": end.isoformat(),
        "previous_start_date": previous_start.isoformat(),
        "previous_end_date": previous_end.isoformat(),
        "period": period,
        "overview_url": reverse("analytics-overview"),
        "dashboard_url": reverse("analytics-dashboard"),
        "report_request_url": reverse("analytics-report-request-report"),
        # The reports are asked for with a POST through the session: DRF checks this token.
        "csrf_token": get_token(request),
    }
    context = {
        **admin.site.each_context(request),
        "title": "Analytics dashboard",
        "organization": organization,
        "organizations": choices,
        "range_choices": [(key, label) for key, (label, _) in RANGE_PRESETS.items()],
        "period_choices": [(name, name.capitalize()) for name in PERIODS],
        "report_types": AnalyticsReportRequest.ReportType.choices,
        "report_formats": ["xlsx", "pdf"],
        "selected_range": preset,
        "selected_period": period,
        "dashboard_config": config,
    }
    return TemplateResponse(request, "admin/analytics/dashboard.html", context)
