"""The analytics dashboard in the admin site, for admins of an organisation.

The page holds the controls and the chart definitions; its numbers come from the browser
fetching `/api/v1/analytics/*` with the session, so every number on it is the API's own.
Access follows the admin's tenant rules: the organisations the user administers (all of them for
superusers); another organisation is a 404, a user who administers none gets a 403.
"""

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

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
from analytics.ranges import RangeError, range_resolve
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
CUSTOM_RANGE = "custom"
DEFAULT_RANGE = "last_30"
DEFAULT_PERIOD = "daily"
TEMPLATE = "admin/analytics/dashboard.html"
# The page's sections in order; those that are an analytics report type get its buttons.
SECTIONS = ("usage", "equipment", "inventory", "projects", "revenue")


def _day(value: str | None, name: str) -> date:
    try:
        return date.fromisoformat(value or "")
    except ValueError:
        raise RangeError(name, f"Enter the {name} date as YYYY-MM-DD.") from None


def dashboard_range(*, organization: Organization, query: dict[str, str]) -> tuple[str, date, date]:
    """The range the URL asks for: a preset (an unknown one is the default) or
    `range=custom&start=…&end=…`, refused with RangeError by the API's own rule."""
    selected = query.get("range")
    if selected == CUSTOM_RANGE:
        start, end = _day(query.get("start"), "start"), _day(query.get("end"), "end")
        return (selected, *range_resolve(organization=organization, start_date=start, end_date=end))
    selected = selected if selected in RANGE_PRESETS else DEFAULT_RANGE
    return (selected, *RANGE_PRESETS[selected][1](organization_today(organization)))


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


def _dashboard_config(request: HttpRequest, organization: Organization, start: date, end: date):
    previous_start, previous_end = previous_range(start, end)
    return {
        "organization": organization.slug,
        "time_zone": organization.time_zone,
        "start_date": start.isoformat(),
        "end_date": end.isoformat(),
        "previous_start_date": previous_start.isoformat(),
        "previous_end_date": previous_end.isoformat(),
        "overview_url": reverse("analytics-overview"),
        "dashboard_url": reverse("analytics-dashboard"),
        "report_request_url": reverse("analytics-report-request-report"),
        # The reports are asked for with a POST through the session: DRF checks this token.
        "csrf_token": get_token(request),
    }


def analytics_dashboard(request: HttpRequest) -> TemplateResponse:
    organization, choices = dashboard_organization(request)
    period = request.GET.get("period")
    period = period if period in PERIODS else DEFAULT_PERIOD
    report_types = set(AnalyticsReportRequest.ReportType.values)
    context = {
        **admin.site.each_context(request),
        "title": "Analytics dashboard",
        "organization": organization,
        "organizations": choices,
        "range_choices": [(key, label) for key, (label, _) in RANGE_PRESETS.items()]
        + [(CUSTOM_RANGE, "Custom range")],
        "period_choices": [(name, name.capitalize()) for name in PERIODS],
        "selected_period": period,
        "sections": [
            {"key": key, "title": key.capitalize(), "has_report": key in report_types}
            for key in SECTIONS
        ],
        "report_formats": ["xlsx", "pdf"],
    }
    try:
        selected, start, end = dashboard_range(organization=organization, query=request.GET)
    except RangeError as error:
        context |= {
            "selected_range": CUSTOM_RANGE,
            "start": request.GET.get("start", ""),
            "end": request.GET.get("end", ""),
            "range_error": f"This range cannot be shown. {error.reason}",
        }
        return TemplateResponse(request, TEMPLATE, context, status=400)
    context |= {
        "selected_range": selected,
        "start": start.isoformat(),
        "end": end.isoformat(),
        "dashboard_config": {
            **_dashboard_config(request, organization, start, end),
            "period": period,
        },
    }
    return TemplateResponse(request, TEMPLATE, context)


def dashboard_nav_entry(request: HttpRequest) -> dict[str, Any] | None:
    """The dashboard as a row of the admin's app lists (home, sidebar, the Analytics app page),
    shaped as Django's own model rows; None for users who may not open it."""
    user = request.user
    if not (user.is_active and user.is_staff) or not organizations_administered(user=user).exists():
        return None
    return {
        "name": "Dashboard",
        "object_name": "Dashboard",
        "admin_url": reverse("admin-analytics-dashboard"),
        "add_url": None,
        "view_only": True,
        "perms": {"view": True},
    }
