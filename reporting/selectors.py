"""Reads with rules: everything is scoped to the organisation, and viewers see less.

A template's `run_role` is the least role that may see and run it: a lower role sees neither
it nor its executions, outputs and schedules (they answer 404, as another tenant's would).
"""

from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Case, Count, QuerySet, Value, When

from accounts.models import Organization, Role
from accounts.selectors import organization_role
from reporting.connections import connections_granted
from reporting.models import (
    DataSource,
    ExecutionStatus,
    ReportAccessLog,
    ReportExecution,
    ReportOutput,
    ReportSchedule,
    ReportTemplate,
    ReportUsageMetric,
)


def data_sources_for(*, organization: Organization) -> QuerySet[DataSource]:
    return DataSource.objects.filter(organization=organization)


def connections_for(*, organization: Organization) -> dict[str, list[str]]:
    """The connections the organisation's data sources may name, by kind: the `reporting`
    database alias (its own reporting schema) and what it was granted."""
    granted = connections_granted(organization_id=organization.pk)
    return {**granted, "database": ["reporting", *granted["database"]]}


def run_roles_within(role: Role) -> list[str]:
    """The `run_role` values of the templates a role may see and run."""
    return [lower.value for lower in Role if role.includes(lower)]


def template_runnable(*, template: ReportTemplate, user: AbstractBaseUser) -> bool:
    """Does the user's role in the template's organisation include its `run_role`? Only that:
    which templates a viewer may pick (the public ones) stays `templates_visible`'s rule."""
    if template.run_role == Role.VIEWER:
        return True
    role = organization_role(user=user, organization=template.organization)
    return role is not None and role.includes(template.run_role)


def templates_visible(*, organization: Organization, role: Role) -> QuerySet[ReportTemplate]:
    """Templates whose run_role the role includes; of those, viewers see the public ones."""
    templates = ReportTemplate.objects.filter(
        organization=organization, run_role__in=run_roles_within(role)
    )
    if not role.includes(Role.ANALYST):
        templates = templates.filter(is_public=True)
    return templates.prefetch_related("sources__data_source")


def executions_visible(
    *, organization: Organization, user: AbstractBaseUser, role: Role
) -> QuerySet[ReportExecution]:
    """Executions of templates the role may run: viewers see their own, analysts and above
    the organisation's."""
    executions = ReportExecution.objects.filter(
        organization=organization, template__run_role__in=run_roles_within(role)
    )
    if not role.includes(Role.ANALYST):
        executions = executions.filter(requested_by=user)
    return executions.select_related("template", "requested_by").prefetch_related("outputs")


def outputs_visible(
    *, organization: Organization, user: AbstractBaseUser, role: Role
) -> QuerySet[ReportOutput]:
    executions = executions_visible(organization=organization, user=user, role=role)
    return ReportOutput.objects.filter(execution__in=executions.values("pk")).select_related(
        "execution__template"
    )


def schedules_for(*, organization: Organization, role: Role) -> QuerySet[ReportSchedule]:
    return ReportSchedule.objects.filter(
        organization=organization, template__run_role__in=run_roles_within(role)
    ).select_related("template", "owner")


def usage_metrics_for(*, organization: Organization, role: Role) -> QuerySet[ReportUsageMetric]:
    return ReportUsageMetric.objects.filter(
        organization=organization, template__run_role__in=run_roles_within(role)
    ).select_related("template")


def access_log_for(*, organization: Organization) -> QuerySet[ReportAccessLog]:
    return ReportAccessLog.objects.filter(organization=organization).select_related("user")


# --- the admin home: across the organisations a staff user administers -------------------------


def templates_to_run(
    *, organizations: QuerySet[Organization], limit: int = 12
) -> list[ReportTemplate]:
    """The organisations' templates, for their admins to run (an admin may run them all)."""
    templates = ReportTemplate.objects.filter(organization__in=organizations)
    return list(templates.order_by("name", "pk").select_related("organization")[:limit])


def executions_recent(
    *, organizations: QuerySet[Organization], user: AbstractBaseUser, limit: int = 10
) -> list[ReportExecution]:
    """The latest executions of the organisations, the user's own before everyone else's."""
    own_first = Case(When(requested_by=user, then=Value(0)), default=Value(1))
    executions = ReportExecution.objects.filter(organization__in=organizations).annotate(
        own_first=own_first
    )
    ordered = executions.order_by("own_first", "-queued_at", "-pk")
    return list(ordered.select_related("template", "requested_by", "organization")[:limit])


def executions_failed_since(
    *, organizations: QuerySet[Organization], since: datetime
) -> QuerySet[ReportExecution]:
    return (
        ReportExecution.objects.filter(
            organization__in=organizations, status=ExecutionStatus.FAILED, queued_at__gte=since
        )
        .order_by("-queued_at", "-pk")
        .select_related("template", "organization")
    )


def schedules_next(
    *, organizations: QuerySet[Organization], limit: int = 5
) -> list[ReportSchedule]:
    """The enabled schedules of the organisations that run soonest."""
    schedules = ReportSchedule.objects.filter(
        organization__in=organizations, enabled=True, next_run_at__isnull=False
    )
    ordered = schedules.order_by("next_run_at", "pk").select_related("template", "organization")
    return list(ordered[:limit])


def executions_active_counts() -> dict[str, int]:
    """Every organisation's queued and running executions (few, under partial indexes)."""
    active = [ExecutionStatus.QUEUED, ExecutionStatus.RUNNING]
    return _status_counts(ReportExecution.objects.filter(status__in=active), active)


def executions_finished_counts(*, since: datetime) -> dict[str, int]:
    """Every organisation's executions that ended since `since`, by how they ended."""
    ended = [ExecutionStatus.SUCCEEDED, ExecutionStatus.FAILED, ExecutionStatus.CANCELLED]
    rows = ReportExecution.objects.filter(status__in=ended, finished_at__gte=since)
    return _status_counts(rows, ended)


def _status_counts(rows: QuerySet, statuses: list[str]) -> dict[str, int]:
    counts = dict.fromkeys(statuses, 0)
    counts.update(rows.order_by().values_list("status").annotate(count=Count("*")))
    return counts


def execution_durations_finished(*, since: datetime, limit: int) -> list[tuple[list[str], float]]:
    """(output formats, seconds) of the newest `limit` executions that succeeded since `since`,
    every organisation's."""
    rows = (
        ReportExecution.objects.filter(
            status=ExecutionStatus.SUCCEEDED, finished_at__gte=since, started_at__isnull=False
        )
        .order_by("-finished_at")
        .values_list("output_formats", "started_at", "finished_at")[:limit]
    )
    return [(formats, (finished - started).total_seconds()) for formats, started, finished in rows]
