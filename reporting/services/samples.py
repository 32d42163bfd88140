"""Demo data sources and templates, so a fresh `make run` has reports to try."""

from django.db import transaction

from accounts.models import Organization
from reporting.models import DataSource, ReportTemplate
from reporting.services.templates import data_source_create, template_create

DEMO_INVOICES_SQL = """\
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 120)
SELECT i AS invoice,
       'Member ' || ((i * 7) %% 23 + 1) AS member,
       ((i * 1375) %% 9000 + 1500) / 100.0 AS amount,
       %(year)s AS year,
       %(month)s AS month
FROM n
ORDER BY i"""

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
        description="Generated invoices for the month asked for (no real table needed).",
    )
    members = DataSource.objects.filter(organization=organization, name="Members").first()
    members = members or data_source_create(
        organization=organization,
        created_by=None,
        name="Members",
        source_type="dataset",
        config={"dataset": "organization_members"},
        description="Who belongs to the organisation.",
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
