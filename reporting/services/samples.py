"""Demo data sources, templates and schedules, so a fresh `make run` has reports to try."""

from collections.abc import Sequence
from datetime import time
from typing import TYPE_CHECKING, Any

from django.db import transaction

from accounts.models import Organization
from reporting.models import CatchUp, DataSource, ReportSchedule, ReportTemplate, SchedulePreset
from reporting.services.schedules import schedule_create
from reporting.services.templates import data_source_create, template_create

if TYPE_CHECKING:  # reporting does not import delivery for this; the caller passes the targets
    from delivery.models import DeliveryTarget

# Both demo sources read the reporting schema (README: "The reporting schema"), as any report
# author's SQL does. The month is compared as text so the same query runs on PostgreSQL
# (timestamps as text in UTC, which report SQL runs in) and SQLite (stored as text).
DEMO_INVOICES_SQL = """\
SELECT transaction_id AS invoice,
       customer_id AS member,
       revenue_source AS source,
       payment_method,
       amount,
       currency,
       timestamp AS paid_at
FROM revenue_transactions
WHERE substr(CAST(timestamp AS TEXT), 1, 7) = CAST(%(year)s AS TEXT) || '-' || %(month)s
ORDER BY timestamp, transaction_id"""

DEMO_MEMBERS_SQL = """\
SELECT username, email, role, member_since AS joined_at
FROM members
ORDER BY username"""

MONTH_SCHEMA = {
    "type": "object",
    "properties": {
        "month": {"type": "string", "format": "month", "title": "Month", "default": "01"},
        "year": {"type": "integer", "minimum": 2000, "title": "Year", "default": 2025},
    },
    "required": ["month", "year"],
}


@transaction.atomic
def sample_reports_load(*, organization: Organization) -> list[ReportTemplate]:
    """The demo templates it created; what exists already is kept as it is."""
    existing = ReportTemplate.objects.filter(organization=organization)
    invoices = DataSource.objects.filter(organization=organization, name="Demo invoices").first()
    invoices = invoices or data_source_create(
        organization=organization,
        created_by=None,
        name="Demo invoices",
        source_type="database",
        query=DEMO_INVOICES_SQL,
        description="Payments received in the month asked for (reporting.revenue_transactions).",
    )
    members = DataSource.objects.filter(organization=organization, name="Members").first()
    members = members or data_source_create(
        organization=organization,
        created_by=None,
        name="Members",
        source_type="database",
        query=DEMO_MEMBERS_SQL,
        description="Who belongs to the organisation (reporting.members).",
    )
    templates = []
    if not existing.filter(slug="monthly-billing-summary").exists():
        templates.append(
            template_create(
                organization=organization,
                created_by=None,
                data_sources=[invoices],
                name="Monthly Billing Summary",
                description="Summary of billing data for the month",
                report_type="financial",
                output_formats=["pdf", "csv", "xlsx"],
                parameters_schema=MONTH_SCHEMA,
                is_public=True,
                charts=[
                    {
                        "table": "demo_invoices",
                        "type": "bar",
                        "x": "invoice",
                        "y": ["amount"],
                        "title": "Amount per invoice",
                    }
                ],
            )
        )
    if not existing.filter(slug="members").exists():
        templates.append(
            template_create(
                organization=organization,
                created_by=None,
                data_sources=[members],
                name="Members",
                description="Everyone in the organisation and their role.",
                report_type="custom",
                output_formats=["csv", "xlsx", "html"],
                is_public=True,
                parameters_schema={
                    "type": "object",
                    "properties": {
                        "role": {
                            "type": "string",
                            "enum": ["viewer", "analyst", "admin", "super_admin"],
                            "title": "Only this role",
                        }
                    },
                },
            )
        )
    return templates


# By template slug. The billing summary runs monthly and delivers to the targets the loader is
# given (the demo's local folder: nothing leaves the machine); it skips slots missed while the
# demo was off, so starting an old demo does not run a burst of reports. The weekly members list
# is paused, so the admin shows both states and the demo's beat does not add a report every week.
DEMO_SCHEDULES: dict[str, dict[str, Any]] = {
    "monthly-billing-summary": {
        "name": "Monthly billing summary on the 1st at 07:00",
        "preset": SchedulePreset.MONTHLY,
        "at": time(7, 0),
        # Resolved at each slot: the run on 1 May reports April.
        "parameters": {"month": "{last_month.month}", "year": "{last_month.year}"},
        "output_formats": ["pdf", "xlsx"],
        "catch_up": CatchUp.SKIP,
        "enabled": True,
        "delivers": True,
    },
    "members": {
        "name": "Members list every Monday at 08:00",
        "preset": SchedulePreset.WEEKLY,
        "at": time(8, 0),
        "parameters": {},
        "output_formats": ["xlsx"],
        "catch_up": CatchUp.SKIP,
        "enabled": False,
    },
}


@transaction.atomic
def sample_schedules_load(
    *, organization: Organization, delivery_targets: Sequence["DeliveryTarget"] = ()
) -> list[ReportSchedule]:
    """The demo schedules it created, in the organisation's time zone, through schedule_create
    (validation, next run, beat entry); those that deliver get `delivery_targets`. Idempotent: a
    demo schedule is known by its template and name, and one that exists (changed or not) is
    kept as it is; a missing template is skipped."""
    templates = ReportTemplate.objects.filter(organization=organization, slug__in=DEMO_SCHEDULES)
    created = []
    for template in templates.order_by("slug"):
        fields = dict(DEMO_SCHEDULES[template.slug])
        delivers = fields.pop("delivers", False)
        if template.schedules.filter(name=fields["name"]).exists():
            continue
        schedule = schedule_create(
            organization=organization, owner=None, template=template,
            time_zone=organization.time_zone,
            delivery_targets=list(delivery_targets) if delivers else [], **fields,
        )  # fmt: skip
        created.append(schedule)
    return created
