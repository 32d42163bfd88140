"""Reads with rules: everything is scoped to the organisation, and viewers see less."""

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet

from accounts.models import Organization, Role
from reporting.models import (
    DataSource,
    ReportAccessLog,
    ReportExecution,
    ReportOutput,
    ReportSchedule,
    ReportTemplate,
    ReportUsageMetric,
)


def data_sources_for(*, organization: Organization) -> QuerySet[DataSource]:
    return DataSource.objects.filter(organization=organization)


def templates_visible(*, organization: Organization, role: Role) -> QuerySet[ReportTemplate]:
    """Viewers see the public templates; analysts and above see every one."""
    templates = ReportTemplate.objects.filter(organization=organization)
    if not role.includes(Role.ANALYST):
        templates = templates.filter(is_public=True)
    return templates.prefetch_related("sources__data_source")


def executions_visible(
    *, organization: Organization, user: AbstractBaseUser, role: Role
) -> QuerySet[ReportExecution]:
    """Viewers see their own executions; analysts and above see the organisation's."""
    executions = ReportExecution.objects.filter(organization=organization)
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


def schedules_for(*, organization: Organization) -> QuerySet[ReportSchedule]:
    return ReportSchedule.objects.filter(organization=organization).select_related(
        "template", "owner"
    )


def usage_metrics_for(*, organization: Organization) -> QuerySet[ReportUsageMetric]:
    return ReportUsageMetric.objects.filter(organization=organization).select_related("template")


def access_log_for(*, organization: Organization) -> QuerySet[ReportAccessLog]:
    return ReportAccessLog.objects.filter(organization=organization).select_related("user")
