"""Analytics reports: a person asks for the usage, inventory, equipment or revenue report of a
range of days in CSV, XLSX or PDF, and gets a file later.

Choices made:
- An analytics report is an ordinary report execution. Each report type has one built-in
  template per organisation (slug `analytics-<type>`), created with its `dataset` data sources
  on the first request for it and reused after that; `execution_request` validates the
  parameters, stores the execution and queues it once the transaction commits, so status,
  progress, retries, expiry and the access log work as for any report. An admin may edit the
  built-in template (its name, charts, layout) in the admin; later requests use the edit.
- `AnalyticsReportRequest` only remembers who asked for what (type, format, the resolved
  dates) and points at its execution, whose status is the request's status.
- Each template has several data sources, one per table (see `analytics.datasets`): the CSV
  output is then a .zip of one .csv per table, the XLSX a Summary sheet with native charts
  and one sheet per table, the PDF the tables with their charts under the organisation's
  branding.
- Dates are local days in the organisation's time zone; missing ones default to the 30 days
  up to today; a range holds at most 731 days (as the analytics endpoints).
- Only the person who asked sees and downloads a request, in the organisation it was made in;
  anyone else gets a 404 (admins see every execution in the reporting API anyway).
"""

from dataclasses import dataclass
from datetime import date
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from rest_framework import status

from accounts.models import Organization, Role
from analytics.datasets import RANGE_PARAMETERS
from analytics.models import AnalyticsReportRequest
from analytics.ranges import RangeError, range_resolve
from config.errors import ApplicationError, ConflictError
from reporting.models import (
    AccessAction,
    DataSource,
    ExecutionStatus,
    ReportOutput,
    ReportTemplate,
    SourceType,
    Trigger,
)
from reporting.services.access_log import ClientInfo, access_log_record
from reporting.services.executions import execution_request
from reporting.services.templates import data_source_create, table_names, template_create

ReportType = AnalyticsReportRequest.ReportType


class OutputGone(ApplicationError):
    status_code = status.HTTP_410_GONE


@dataclass(frozen=True)
class Sheet:
    dataset: str  # a registered dataset
    name: str  # its data source's name: the sheet's name (31 characters at most)


@dataclass(frozen=True)
class Chart:
    sheet: int  # index into the report's sheets
    type: str
    x: str
    y: tuple[str, ...]
    title: str


@dataclass(frozen=True)
class BuiltInReport:
    name: str
    description: str
    sheets: tuple[Sheet, ...]
    charts: tuple[Chart, ...]


BUILT_IN_REPORTS: dict[str, BuiltInReport] = {
    ReportType.USAGE: BuiltInReport(
        name="Usage report",
        description="Activity, login patterns and peak hours, by local day and hour.",
        sheets=(
            Sheet("analytics_usage_daily", "Usage - daily activity"),
            Sheet("analytics_usage_logins_by_weekday", "Usage - logins by weekday"),
            Sheet("analytics_usage_login_hours", "Usage - login hours"),
            Sheet("analytics_usage_peak_hours", "Usage - peak hours"),
            Sheet("analytics_usage_event_types", "Usage - event types"),
        ),
        charts=(
            Chart(0, "line", "day", ("events", "active_users", "logins"), "Daily activity"),
            Chart(1, "bar", "day_name", ("logins",), "Logins by weekday"),
            Chart(3, "bar", "hour", ("events",), "Events by hour of the day"),
            Chart(4, "pie", "event_type", ("events",), "Events by type"),
        ),
    ),
    ReportType.INVENTORY: BuiltInReport(
        name="Inventory report",
        description="Consumption, cost, efficiency, waste and reorders.",
        sheets=(
            Sheet("analytics_inventory_daily", "Inventory - consumption by day"),
            Sheet("analytics_inventory_items", "Inventory - by item"),
            Sheet("analytics_inventory_categories", "Inventory - by category"),
        ),
        charts=(
            Chart(0, "line", "day", ("cost",), "Consumption cost per day"),
            Chart(1, "bar", "item_name", ("cost",), "Cost by item"),
            Chart(2, "pie", "category", ("cost",), "Cost by category"),
        ),
    ),
    ReportType.EQUIPMENT: BuiltInReport(
        name="Equipment report",
        description="Sessions, utilisation against opening hours, maintenance and revenue.",
        sheets=(
            Sheet("analytics_equipment", "Equipment - utilisation"),
            Sheet("analytics_equipment_maintenance", "Equipment - maintenance"),
            Sheet("analytics_equipment_revenue", "Equipment - revenue"),
            Sheet("analytics_equipment_daily", "Equipment - by day"),
        ),
        charts=(
            Chart(0, "bar", "equipment_name", ("utilisation_percent",), "Utilisation (%)"),
            Chart(1, "bar", "equipment_name", ("maintenance_sessions",), "Maintenance sessions"),
            Chart(2, "bar", "equipment_name", ("revenue", "cost"), "Revenue and cost"),
            Chart(3, "line", "day", ("minutes",), "Minutes of use per day"),
        ),
    ),
    ReportType.REVENUE: BuiltInReport(
        name="Revenue report",
        description="Income by source and payment method, and growth month on month.",
        sheets=(
            Sheet("analytics_revenue_daily", "Revenue - by day and source"),
            Sheet("analytics_revenue_payment_methods", "Revenue - payment methods"),
            Sheet("analytics_revenue_monthly", "Revenue - by month"),
        ),
        charts=(
            Chart(0, "line", "day", ("total",), "Income per day"),
            Chart(1, "pie", "payment_method", ("amount",), "Payment methods"),
            Chart(2, "bar", "month", ("amount",), "Income per month"),
        ),
    ),
}


def template_slug(report_type: str) -> str:
    return f"analytics-{report_type}"


# --- built-in templates ----------------------------------------------------------------------


@transaction.atomic
def report_template_ensure(*, organization: Organization, report_type: str) -> ReportTemplate:
    """The organisation's built-in template for the type, created with its data sources on
    first use. Idempotent; of two first requests at once, the second reads the first's."""
    slug = template_slug(report_type)
    template = ReportTemplate.objects.filter(organization=organization, slug=slug).first()
    if template is not None:
        return template
    try:
        with transaction.atomic():
            return _template_create(organization, report_type)
    except IntegrityError:
        return ReportTemplate.objects.get(organization=organization, slug=slug)


def _template_create(organization: Organization, report_type: str) -> ReportTemplate:
    report = BUILT_IN_REPORTS[report_type]
    sources = [_data_source_ensure(organization, sheet) for sheet in report.sheets]
    tables = table_names(sources)
    return template_create(
        organization=organization,
        created_by=None,
        data_sources=sources,
        name=report.name,
        slug=template_slug(report_type),
        description=report.description,
        report_type=report_type,
        # Admin-only like the analytics reports API, through every door (reporting API, admin).
        run_role=Role.ADMIN,
        output_formats=list(AnalyticsReportRequest.Format.values),
        parameters_schema={
            "type": "object",
            "properties": dict(RANGE_PARAMETERS),
            "required": ["start_date", "end_date"],
        },
        charts=[
            {
                "table": tables[chart.sheet],
                "type": chart.type,
                "x": chart.x,
                "y": list(chart.y),
                "title": chart.title,
            }
            for chart in report.charts
        ],
    )


def _data_source_ensure(organization: Organization, sheet: Sheet) -> DataSource:
    config = {"dataset": sheet.dataset}
    source = DataSource.objects.filter(organization=organization, name=sheet.name).first()
    if source is None:
        return data_source_create(
            organization=organization,
            created_by=None,
            name=sheet.name,
            description="Built-in analytics dataset",
            source_type=SourceType.DATASET,
            config=config,
        )
    if source.source_type != SourceType.DATASET or source.config != config:
        raise ConflictError(
            f"The data source “{sheet.name}” is needed for the built-in analytics reports but "
            "is something else here; rename it.",
            errors={"data_source": [sheet.name]},
        )
    return source


# --- requests --------------------------------------------------------------------------------


def report_range_resolve(
    *, organization: Organization, start_date: date | None, end_date: date | None
) -> tuple[date, date]:
    """The days asked for, defaults filled in; a 400 naming the filter when they are wrong."""
    try:
        return range_resolve(organization=organization, start_date=start_date, end_date=end_date)
    except RangeError as error:
        raise ApplicationError(
            "The filters are not valid.", errors={"filters": {error.field: [error.reason]}}
        ) from None


@transaction.atomic
def report_request(
    *,
    organization: Organization,
    requested_by: AbstractBaseUser,
    report_type: str,
    output_format: str,
    start_date: date | None = None,
    end_date: date | None = None,
    client: ClientInfo | None = None,
) -> AnalyticsReportRequest:
    """Store the request and its execution; the execution is queued once this commits."""
    if report_type not in BUILT_IN_REPORTS:
        raise ApplicationError(
            "Unknown report type.",
            errors={
                "report_type": [f"{report_type!r} is not one of {', '.join(BUILT_IN_REPORTS)}."]
            },
        )
    start, end = report_range_resolve(
        organization=organization, start_date=start_date, end_date=end_date
    )
    filters = {"start_date": start.isoformat(), "end_date": end.isoformat()}
    template = report_template_ensure(organization=organization, report_type=report_type)
    execution = execution_request(
        template=template,
        parameters=filters,
        requested_by=requested_by,
        trigger=Trigger.API,
        output_formats=[output_format],
        client=client,
    )
    return AnalyticsReportRequest.objects.create(
        organization=organization,
        requested_by=requested_by,
        report_type=report_type,
        format=output_format,
        filters=filters,
        execution=execution,
    )


def report_requests_for(
    *, organization: Organization, user: AbstractBaseUser
) -> QuerySet[AnalyticsReportRequest]:
    """The user's own requests in the organisation, newest first."""
    return (
        AnalyticsReportRequest.objects.filter(organization=organization, requested_by=user)
        .select_related("execution")
        .order_by("-created_at", "-id")
    )


def report_output_open(
    *,
    report_request: AnalyticsReportRequest,
    user: AbstractBaseUser,
    client: ClientInfo | None = None,
) -> ReportOutput:
    """The request's file, recorded in the access log; a ConflictError (409) with the status
    while there is none to give."""
    execution = report_request.execution
    if execution.status != ExecutionStatus.SUCCEEDED:
        _not_ready(execution.status, _not_ready_reason(execution.status, execution.error))
    output = execution.outputs.filter(format=report_request.format).first()
    if output is None or output.expired_at:
        raise OutputGone(
            "The report's file has expired and was deleted; ask for the report again.",
            errors={"status": "expired"},
        )
    access_log_record(
        organization=report_request.organization,
        user=user,
        action=AccessAction.DOWNLOAD,
        output=output,
        client=client,
    )
    return output


def _not_ready_reason(status: str, error: str) -> str:
    reasons: dict[str, Any] = {
        ExecutionStatus.QUEUED: "The report is waiting for a worker; try again shortly.",
        ExecutionStatus.RUNNING: "The report is being generated; try again shortly.",
        ExecutionStatus.FAILED: f"The report failed: {error}",
        ExecutionStatus.CANCELLED: "The report was cancelled; ask for it again.",
    }
    return reasons.get(status, f"The report is {status}.")


def _not_ready(status: str, detail: str) -> None:
    raise ConflictError(detail, errors={"status": status})
