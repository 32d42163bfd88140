"""Inputs the fuzzer found answering 500: each is a 400 naming the field and the reason."""

from reporting.models import ReportTemplate
from reporting.services.schedules import schedule_create

BI = "/api/v1/business-intelligence"


def test_a_preview_with_parameters_that_are_not_an_object_is_a_400(admin_client_api, invoices):
    response = admin_client_api.post(
        f"{BI}/data-sources/{invoices.pk}/preview", {"parameters": [1, 2]}, format="json"
    )
    assert response.status_code == 400
    assert response.json() == {
        "detail": "Parameters must be a JSON object.",
        "parameters": ["Expected an object of parameter names and values."],
    }


def test_a_template_name_longer_than_a_slug_gets_a_shortened_slug(analyst_client):
    name = "Monthly revenue by machine " * 7  # 189 characters
    response = analyst_client.post(
        f"{BI}/report-templates", {"name": name, "output_formats": ["csv"]}, format="json"
    )
    assert response.status_code == 201, response.json()
    template = ReportTemplate.objects.get()
    assert template.slug == "-".join(["monthly-revenue-by-machine"] * 4)[:100].rstrip("-")
    assert len(template.slug) <= 100


def test_deleting_a_template_that_schedules_run_is_a_409_naming_them(
    analyst_client, billing_template
):
    schedule_create(
        organization=billing_template.organization, owner=None, template=billing_template,
        name="Billing on the 1st", parameters={"month": "01", "year": 2026}, time_zone="UTC",
        cron="0 7 1 * *",
    )  # fmt: skip
    response = analyst_client.delete(f"{BI}/report-templates/{billing_template.pk}")
    assert response.status_code == 409
    assert response.json() == {
        "detail": "This template is run by schedules: Billing on the 1st.",
        "schedules": ["Billing on the 1st"],
    }
    assert ReportTemplate.objects.filter(pk=billing_template.pk).exists()


def test_a_valid_cron_longer_than_the_column_is_a_400(analyst_client, billing_template):
    every_minute = ",".join(str(minute) for minute in range(60))  # 170 characters
    body = {"name": "Busy", "template_id": billing_template.pk, "cron": f"{every_minute} * * * *",
            "parameters": {"month": "01", "year": 2026}}  # fmt: skip
    response = analyst_client.post(f"{BI}/scheduled-reports", body, format="json")
    assert response.status_code == 400
    assert response.json() == {"cron": ["Ensure this field has no more than 120 characters."]}
