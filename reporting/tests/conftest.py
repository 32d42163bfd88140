import pytest

from reporting.tests.factories import DataSourceFactory, ReportTemplateFactory


@pytest.fixture
def invoices(organization):
    return DataSourceFactory(organization=organization, name="Invoices")


@pytest.fixture
def billing_template(organization, invoices):
    return ReportTemplateFactory(
        organization=organization,
        name="Monthly Billing Summary",
        slug="monthly-billing-summary",
        sources=[invoices],
    )


@pytest.fixture
def foreign_template(other_organization):
    source = DataSourceFactory(organization=other_organization, name="Their invoices")
    return ReportTemplateFactory(organization=other_organization, sources=[source])
