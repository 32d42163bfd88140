"""The admin home for staff: what ran lately, what failed this week and what runs next, across
the organisations the user administers (superusers: all), read through the selectors."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.urls import NoReverseMatch, reverse

from accounts.selectors import organizations_administered
from delivery.selectors import deliveries_failed_since
from reporting.forms import slot_label
from reporting.selectors import (
    executions_failed_since,
    executions_recent,
    schedules_next,
    templates_to_run,
)
from reporting.slots import time_zone_get

FAILED_WINDOW = timedelta(days=7)
FAILED_SHOWN = 10


@dataclass(frozen=True)
class AdminHome:
    to_run: list[dict[str, Any]] = field(default_factory=list)
    recent: list[dict[str, Any]] = field(default_factory=list)
    failed_runs: list[dict[str, Any]] = field(default_factory=list)
    failed_runs_count: int = 0
    failed_deliveries: list[dict[str, Any]] = field(default_factory=list)
    failed_deliveries_count: int = 0
    next_runs: list[dict[str, Any]] = field(default_factory=list)
    several_organizations: bool = False
    dashboard_url: str = ""


def admin_home_get(*, user: AbstractBaseUser, now: datetime) -> AdminHome:
    organizations = organizations_administered(user=user)
    if not (user.is_active and user.is_staff) or not organizations.exists():
        return AdminHome()
    since = now - FAILED_WINDOW
    failed_runs = executions_failed_since(organizations=organizations, since=since)
    failed_deliveries = deliveries_failed_since(organizations=organizations, since=since)
    recent = executions_recent(organizations=organizations, user=user)
    return AdminHome(
        to_run=[_template_row(t) for t in templates_to_run(organizations=organizations)],
        recent=[_execution_row(e, user) for e in recent],
        failed_runs=[_execution_row(e, user) for e in failed_runs[:FAILED_SHOWN]],
        failed_runs_count=failed_runs.count(),
        failed_deliveries=[_delivery_row(d) for d in failed_deliveries[:FAILED_SHOWN]],
        failed_deliveries_count=failed_deliveries.count(),
        next_runs=[_schedule_row(s) for s in schedules_next(organizations=organizations)],
        several_organizations=organizations.count() > 1,
        dashboard_url=_dashboard_url(),
    )


def _dashboard_url() -> str:
    """The analytics dashboard's admin page, when it is installed. Not "analytics-dashboard":
    that name is the API's JSON route (/api/v1/analytics/dashboard)."""
    try:
        return reverse("admin-analytics-dashboard")
    except NoReverseMatch:
        return ""


def _local(moment: datetime | None, time_zone: str) -> str:
    return slot_label(moment.astimezone(time_zone_get(time_zone))) if moment else ""


def _template_row(template) -> dict[str, Any]:
    return {
        "url": reverse("admin:reporting_reporttemplate_change", args=[template.pk]),
        "run_url": reverse("admin:reporting_reporttemplate_run", args=[template.pk]),
        "name": template.name,
        "organization": template.organization.name,
        "formats": ", ".join(fmt.upper() for fmt in template.output_formats),
    }


def _execution_row(execution, user: AbstractBaseUser) -> dict[str, Any]:
    return {
        "url": reverse("admin:reporting_reportexecution_change", args=[execution.pk]),
        "id": execution.pk,
        "template": execution.template.name,
        "organization": execution.organization.name,
        "status": execution.status,
        "status_label": execution.get_status_display(),
        "queued_at": _local(execution.queued_at, execution.organization.time_zone),
        "yours": execution.requested_by_id == user.pk,
        "requested_by": getattr(execution.requested_by, "username", "") or execution.trigger,
        "error": execution.error,
    }


def _delivery_row(delivery) -> dict[str, Any]:
    organization = delivery.target.organization
    return {
        "url": reverse("admin:delivery_delivery_change", args=[delivery.pk]),
        "execution_url": reverse(
            "admin:reporting_reportexecution_change", args=[delivery.execution_id]
        ),
        "target": delivery.target.name,
        "template": delivery.execution.template.name,
        "organization": organization.name,
        "created_at": _local(delivery.created_at, organization.time_zone),
        "error": delivery.last_error,
    }


def _schedule_row(schedule) -> dict[str, Any]:
    return {
        "url": reverse("admin:reporting_reportschedule_change", args=[schedule.pk]),
        "name": schedule.name,
        "template": schedule.template.name,
        "organization": schedule.organization.name,
        "next_run": _local(schedule.next_run_at, schedule.time_zone),
    }
