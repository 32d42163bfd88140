"""The admin's reporting flow as a person meets it: the template's Run button, a run form with
current defaults, and the execution page that shows progress, files, errors and actions."""

from datetime import UTC, datetime

import pytest
import time_machine
from django.test import Client

from accounts.models import Role
from accounts.tests.factories import MembershipFactory, UserFactory
from config.errors import ApplicationError
from delivery.models import Delivery, DeliveryStatus, DeliveryTarget
from delivery.services import delivery_attempt, target_create
from reporting.forms import run_defaults
from reporting.models import ExecutionStatus, ReportExecution
from reporting.services.executions import execution_request, execution_run
from reporting.tests.factories import DataSourceFactory, ReportTemplateFactory

pytestmark = pytest.mark.usefixtures("report_output_dir")
runs_reports = pytest.mark.django_db(databases=["default", "reporting"], transaction=True)
MARCH = {"month": "03", "year": 2025}


def _staff_of(organization, username: str) -> Client:
    user = UserFactory(username=username, is_staff=True)
    MembershipFactory(organization=organization, user=user, role=Role.ADMIN)
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def staff(organization) -> Client:
    return _staff_of(organization, "acme-staff")


@pytest.fixture
def other_staff(other_organization) -> Client:
    return _staff_of(other_organization, "northwind-staff")


def _page(execution) -> str:
    return f"/admin/reporting/reportexecution/{execution.pk}/change/"


def _progress(execution) -> str:
    return f"/admin/reporting/reportexecution/{execution.pk}/progress/"


def _form_tag(html: str, form_id: str) -> str:
    start = html.index(f'<form id="{form_id}"')
    return html[start : html.index(">", start)]


def _queued(template, **options) -> ReportExecution:
    return execution_request(
        template=template,
        parameters=options.pop("parameters", MARCH),
        requested_by=None,
        trigger="admin",
        enqueue=False,
        **options,
    )


def test_the_template_page_has_a_run_button(staff, billing_template):
    html = staff.get(f"/admin/reporting/reporttemplate/{billing_template.pk}/change/").content
    run = f'href="/admin/reporting/reporttemplate/{billing_template.pk}/run/"'
    assert run.encode() in html
    assert b"Run this report" in html


@time_machine.travel(datetime(2026, 12, 5, 12, tzinfo=UTC))
def test_the_run_form_defaults_to_last_month(staff, billing_template):
    form = staff.get(f"/admin/reporting/reporttemplate/{billing_template.pk}/run/").context["form"]
    assert (form["month"].value(), form["year"].value(), form["rows"].value()) == ("11", 2026, 3)


@time_machine.travel(datetime(2026, 12, 31, 23, 30, tzinfo=UTC))
def test_last_month_is_taken_in_the_organisations_zone(billing_template):
    # 23:30 UTC on 31 December is already January in Berlin: last month is December.
    schema = billing_template.parameters_schema
    now = datetime(2026, 12, 31, 23, 30, tzinfo=UTC)
    assert run_defaults(schema, now=now, time_zone="Europe/Berlin")["month"] == "12"
    assert run_defaults(schema, now=now, time_zone="UTC")["month"] == "11"


def test_relative_tokens_and_lone_months_get_current_values():
    schema = {
        "type": "object",
        "properties": {
            "period": {"type": "string", "format": "month", "default": "2025-01"},
            "since": {"type": "string", "format": "date", "default": "{last_month_start}"},
            "top": {"type": "integer", "default": 10},
        },
    }
    now = datetime(2026, 3, 10, 9, tzinfo=UTC)
    assert run_defaults(schema, now=now, time_zone="UTC") == {
        "period": "2026-02",
        "since": "2026-02-01",
        "top": 10,
    }


def test_submitting_the_run_form_lands_on_the_execution_page(
    staff, billing_template, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks():
        response = staff.post(
            f"/admin/reporting/reporttemplate/{billing_template.pk}/run/",
            {"month": "03", "year": "2025", "rows": "2", "output_formats": ["csv"]},
            follow=True,
        )
    execution = ReportExecution.objects.get()
    assert response.redirect_chain[-1][0] == _page(execution)
    html = response.content.decode()
    assert f"Execution {execution.pk} queued." in html
    assert '<progress id="execution-progress"' in html
    assert "reporting/execution.js" in html


def test_the_run_form_shows_errors_on_their_fields(staff, billing_template):
    response = staff.post(
        f"/admin/reporting/reporttemplate/{billing_template.pk}/run/",
        {"month": "13", "year": "1999", "output_formats": ["csv"]},
    )
    form = response.context["form"]
    assert set(form.errors) >= {"month", "year"}
    assert not ReportExecution.objects.exists()


def _run_form(template) -> str:
    return f"/admin/reporting/reporttemplate/{template.pk}/run/"


def _folder_target(organization, name: str = "Demo folder") -> DeliveryTarget:
    return target_create(
        organization=organization,
        created_by=None,
        name=name,
        kind="storage",
        config={"backend": "local", "path": "demo"},
    )


def test_the_run_form_offers_the_organisations_targets_and_chooses_none(
    staff, billing_template, other_organization
):
    own = _folder_target(billing_template.organization)
    switched_off = _folder_target(billing_template.organization, name="Old folder")
    switched_off.enabled = False
    switched_off.save()
    _folder_target(other_organization, name="Northwind folder")
    response = staff.get(_run_form(billing_template))
    field = response.context["form"]["delivery_targets"]
    assert [label for _, label in field.field.choices] == ["Demo folder (storage)"]
    assert field.value() is None  # nothing ticked
    html = response.content.decode()
    assert f'name="delivery_targets" value="{own.pk}"' in html
    assert "Northwind folder" not in html


def test_with_no_targets_the_run_form_says_where_to_add_one(staff, billing_template):
    form = staff.get(_run_form(billing_template)).context["form"]
    assert list(form.fields["delivery_targets"].choices) == []
    assert form.fields["delivery_targets"].help_text == (
        "None yet: add one under Delivery targets to have runs delivered."
    )


def test_a_target_of_another_organisation_is_a_field_error_and_runs_nothing(
    staff, billing_template, other_organization
):
    foreign = _folder_target(other_organization, name="Northwind folder")
    response = staff.post(
        _run_form(billing_template),
        {**MARCH, "rows": "2", "output_formats": ["csv"], "delivery_targets": [foreign.pk]},
    )
    [reason] = response.context["form"].errors["delivery_targets"]
    assert reason == f"Select a valid choice. {foreign.pk} is not one of the available choices."
    assert not ReportExecution.objects.exists()
    assert not Delivery.objects.exists()


def test_the_service_refuses_another_organisations_target_whatever_the_door(
    billing_template, other_organization
):
    foreign = _folder_target(other_organization, name="Northwind folder")
    with pytest.raises(ApplicationError) as refused:
        _queued(billing_template, delivery_targets=[foreign])
    assert refused.value.errors == {
        "delivery_targets": ["Choose targets of the report's own organisation."]
    }
    assert not ReportExecution.objects.exists()


@runs_reports
def test_a_run_with_a_chosen_target_delivers_there_and_its_page_lists_the_delivery(
    staff, billing_template, delivery_root
):
    target = _folder_target(billing_template.organization)
    staff.post(
        _run_form(billing_template),
        {**MARCH, "rows": "2", "output_formats": ["csv"], "delivery_targets": [target.pk]},
    )
    execution = ReportExecution.objects.get()
    [delivery] = execution.deliveries.all()
    assert (delivery.target, delivery.status) == (target, DeliveryStatus.PENDING)

    execution_run(execution_id=execution.pk)
    delivery_attempt(delivery_pk=delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SENT, delivery.last_error
    folder = delivery_root / str(billing_template.organization.pk) / "demo"
    [delivered] = [path for path in folder.rglob("*") if path.is_file()]
    assert delivered.read_text().startswith("invoice,customer,amount_cents")
    state = staff.get(_progress(execution)).json()
    assert [(d["target"], d["status"]) for d in state["deliveries"]] == [
        ("Demo folder (storage)", "sent")
    ]
    html = staff.get(_page(execution)).content.decode()
    assert "<td>Demo folder (storage)</td>" in html
    assert 'class="execution-status status-sent">sent' in html


def test_the_execution_page_is_read_only_and_hides_internals_in_technical(staff, billing_template):
    execution = _queued(billing_template)
    html = staff.get(_page(execution)).content.decode()
    assert 'name="_save"' not in html
    assert "Delete" not in html
    assert "<dt>Month</dt>\n      <dd>03</dd>" in html
    assert "hidden" not in _form_tag(html, "execution-cancel")
    assert "hidden" in _form_tag(html, "execution-retry")
    technical = html[html.index("<details>") : html.index("</details>")]
    assert execution.celery_task_id in technical
    assert html.count(execution.celery_task_id) == 1


def test_the_progress_endpoint_answers_status_and_progress(staff, billing_template):
    execution = _queued(billing_template)
    ReportExecution.objects.filter(pk=execution.pk).update(status="running", progress=40)
    state = staff.get(_progress(execution)).json()
    assert state["status"] == "running"
    assert state["progress"] == 40
    assert (state["active"], state["can_cancel"], state["can_retry"]) == (True, True, False)
    assert state["outputs"] == []


@runs_reports
def test_a_finished_run_offers_a_download_per_output_that_downloads_it(staff, billing_template):
    execution = _queued(billing_template, output_formats=["csv", "json"])
    execution_run(execution_id=execution.pk)
    html = staff.get(_page(execution)).content.decode()
    state = staff.get(_progress(execution)).json()
    assert (state["status"], state["progress"], state["active"]) == ("succeeded", 100, False)
    assert [output["format"] for output in state["outputs"]] == ["CSV", "JSON"]
    for output in state["outputs"]:
        assert f"Download {output['format']}" in html
        assert output["url"].replace("&", "&amp;") in html
        assert output["size_label"] in html
    csv = staff.get(state["outputs"][0]["url"])
    assert csv.status_code == 200
    assert b"".join(csv.streaming_content).startswith(b"invoice,customer,amount_cents")


@runs_reports
def test_a_failed_run_shows_its_error_and_retry_makes_a_new_run(staff, organization):
    broken = DataSourceFactory(organization=organization, query="SELECT x FROM nowhere")
    template = ReportTemplateFactory(
        organization=organization, sources=[broken], parameters_schema={"type": "object"}
    )
    failed = _queued(template, parameters={})
    execution_run(execution_id=failed.pk)
    failed.refresh_from_db()
    html = staff.get(_page(failed)).content.decode()
    assert failed.error.startswith("Data source")
    assert 'class="errornote execution-error">Data source' in html
    assert "hidden" not in _form_tag(html, "execution-retry")

    response = staff.post(f"/admin/reporting/reportexecution/{failed.pk}/retry/")
    retry = ReportExecution.objects.get(retry_of=failed)
    assert response.status_code == 302
    assert response["Location"] == _page(retry)
    assert retry.status == ExecutionStatus.QUEUED


@runs_reports
def test_a_retry_delivers_to_the_targets_the_failed_run_had(staff, organization):
    broken = DataSourceFactory(organization=organization, query="SELECT x FROM nowhere")
    template = ReportTemplateFactory(
        organization=organization, sources=[broken], parameters_schema={"type": "object"}
    )
    target = _folder_target(organization)
    failed = _queued(template, parameters={}, delivery_targets=[target])
    execution_run(execution_id=failed.pk)
    assert failed.deliveries.get().status == DeliveryStatus.SKIPPED

    staff.post(f"/admin/reporting/reportexecution/{failed.pk}/retry/")
    retry = ReportExecution.objects.get(retry_of=failed)
    [delivery] = retry.deliveries.all()
    assert (delivery.target, delivery.status) == (target, DeliveryStatus.PENDING)


def test_retrying_a_running_execution_is_a_message_not_an_error(staff, billing_template):
    execution = _queued(billing_template)
    response = staff.post(f"/admin/reporting/reportexecution/{execution.pk}/retry/", follow=True)
    assert "Only a failed or cancelled execution can be retried" in response.content.decode()
    assert ReportExecution.objects.count() == 1


def test_cancel_stops_a_queued_run_and_a_second_cancel_is_a_message(staff, billing_template):
    execution = _queued(billing_template)
    cancel = f"/admin/reporting/reportexecution/{execution.pk}/cancel/"
    assert staff.get(cancel).status_code == 405
    staff.post(cancel)
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.CANCELLED
    html = staff.post(cancel, follow=True).content.decode()
    assert "Only a queued or running execution can be cancelled" in html


def test_the_page_lists_the_runs_deliveries_with_their_status(staff, billing_template):
    target = DeliveryTarget.objects.create(
        organization=billing_template.organization,
        name="Finance inbox",
        kind="email",
        config={"recipients": ["finance@example.com"]},
    )
    execution = _queued(billing_template)
    Delivery.objects.create(execution=execution, target=target, status="failed", attempts=3)
    html = staff.get(_page(execution)).content.decode()
    assert "Finance inbox" in html
    assert 'class="execution-status status-failed">failed' in html


def test_another_organisations_staff_get_404(other_staff, billing_template):
    execution = _queued(billing_template)
    assert other_staff.get(_page(execution)).status_code == 404
    assert other_staff.get(_progress(execution)).status_code == 404
    assert (
        other_staff.post(f"/admin/reporting/reportexecution/{execution.pk}/cancel/").status_code
        == 404
    )
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.QUEUED


def test_the_executions_list_shows_status_badges_and_download_links(staff, billing_template):
    execution = _queued(billing_template)
    ReportExecution.objects.filter(pk=execution.pk).update(status="failed")
    html = staff.get("/admin/reporting/reportexecution/").content.decode()
    assert 'class="execution-status status-failed">Failed' in html
