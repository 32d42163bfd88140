"""A succeeded report reaches its targets, once each, however often a mail server or a webhook
receiver is down on the way; a delivery failure never touches the execution."""

import hashlib
import hmac
import re
import subprocess
from datetime import timedelta

import time_machine
from django.test import Client
from django.utils import timezone

from delivery.models import Delivery, DeliveryStatus
from delivery.services import (
    deliveries_plan,
    deliveries_retry_due,
    deliveries_settle,
    deliveries_start,
    delivery_attempt,
    delivery_redeliver,
    target_create,
)
from delivery.tests.conftest import CSV, free_port
from reporting.models import ReportAccessLog, ReportExecution

BI = "/api/v1/business-intelligence"
SECRET = "a-webhook-secret-of-some-length"


def email_target(organization):
    return target_create(organization=organization, created_by=None, name="Finance",
                         kind="email", config={"recipients": ["ana@acme.test"]})  # fmt: skip


def send(execution, targets, django_capture_on_commit_callbacks):
    deliveries_plan(plan=[(execution, targets)])
    with django_capture_on_commit_callbacks() as enqueued:
        deliveries_start(execution=execution)
    assert len(enqueued) == len(targets)  # one task per delivery, once the run is committed
    return [delivery_attempt(delivery_pk=d.pk) for d in execution.deliveries.all()]


def test_the_email_arrives_with_the_pdf_and_a_working_link(
    organization, succeeded, smtp_server, django_capture_on_commit_callbacks
):
    [delivery] = send(succeeded, [email_target(organization)], django_capture_on_commit_callbacks)
    assert delivery.status == DeliveryStatus.SENT
    [(recipients, message)] = smtp_server.messages
    assert recipients == ["ana@acme.test"]
    assert "Monthly Billing Summary" in message["Subject"]
    pdf = next(p for p in message.iter_attachments() if p.get_filename().endswith(".pdf"))
    text = subprocess.run(["pdftotext", "-", "-"], input=pdf.get_payload(decode=True),
                          capture_output=True, check=True).stdout.decode()  # fmt: skip
    assert "March billing for Acme" in text
    body = message.get_body(("plain",)).get_content()
    link = re.search(r"http://\S+/r/\S+", body).group(0)
    path = link.split("8000", 1)[1]
    response = Client().get(path)  # no login
    assert response.status_code == 200
    assert b"".join(response.streaming_content) in (CSV, pdf.get_payload(decode=True))
    assert ReportAccessLog.objects.filter(action="download", user=None).count() == 1


def test_smtp_down_is_retried_and_the_execution_stays_succeeded(
    organization, succeeded, smtp_server, settings, django_capture_on_commit_callbacks
):
    server_port = settings.EMAIL_PORT
    settings.EMAIL_PORT = free_port()  # the mail server is down
    [delivery] = send(succeeded, [email_target(organization)], django_capture_on_commit_callbacks)
    assert (delivery.status, delivery.attempts) == ("pending", 1)
    assert "mail server" in delivery.last_error
    assert delivery.next_attempt_at > timezone.now()
    assert deliveries_retry_due() == []  # not yet
    settings.EMAIL_PORT = server_port  # back up
    with time_machine.travel(delivery.next_attempt_at + timedelta(seconds=1), tick=False):
        assert deliveries_retry_due() == [delivery.pk]
        delivery = delivery_attempt(delivery_pk=delivery.pk)
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("sent", 2, "")
    assert len(smtp_server.messages) == 1
    succeeded.refresh_from_db()
    assert succeeded.status == "succeeded"
    assert succeeded.outputs.count() == 2


def test_after_the_last_attempt_it_stays_failed_until_redelivered(
    organization, succeeded, smtp_server, settings, admin_client_api,
    django_capture_on_commit_callbacks,
):  # fmt: skip
    settings.DELIVERY_MAX_ATTEMPTS = 2
    settings.EMAIL_PORT = free_port()  # the SMTP backend, aimed where nothing listens
    [delivery] = send(succeeded, [email_target(organization)], django_capture_on_commit_callbacks)
    with time_machine.travel(delivery.next_attempt_at + timedelta(seconds=1), tick=False):
        delivery = delivery_attempt(delivery_pk=delivery.pk)
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == ("failed", 2, None)
    response = admin_client_api.post(f"{BI}/deliveries/{delivery.pk}/redeliver")
    assert response.status_code == 202
    assert response.json()["status"] == "pending"


def test_webhook_retries_carry_the_same_delivery_id_and_a_valid_signature(
    organization, succeeded, webhook_receiver, settings, django_capture_on_commit_callbacks
):
    from delivery.services import target_update

    settings.DELIVERY_ALLOWED_HOSTS = ["127.0.0.1"]
    target = target_create(organization=organization, created_by=None, name="Billing system",
                           kind="webhook", config={"url": webhook_receiver.url("/fail"),
                                                   "secret": SECRET})  # fmt: skip
    [delivery] = send(succeeded, [target], django_capture_on_commit_callbacks)
    assert (delivery.status, delivery.response_status) == ("pending", 500)
    target_update(target=target, config={"url": webhook_receiver.url("/hook")})  # secret kept
    with time_machine.travel(delivery.next_attempt_at + timedelta(seconds=1), tick=False):
        delivery = delivery_attempt(delivery_pk=delivery.pk)
    assert (delivery.status, delivery.response_status) == ("sent", 200)
    first, second = webhook_receiver.requests
    assert first.headers["X-Delivery-Id"] == second.headers["X-Delivery-Id"]
    expected = hmac.new(SECRET.encode(), second.body, hashlib.sha256).hexdigest()
    assert second.headers["X-Signature-256"] == f"sha256={expected}"


def test_a_failed_report_is_not_delivered(organization, billing_template, admin_client_api):
    execution = ReportExecution.objects.create(
        organization=organization, template=billing_template, status="failed", error="boom"
    )
    deliveries_plan(plan=[(execution, [email_target(organization)])])
    deliveries_start(execution=execution)
    [delivery] = admin_client_api.get(f"{BI}/deliveries", {"status": "skipped"}).json()["results"]
    assert delivery["status"] == "skipped"
    assert delivery["last_error"] == "Nothing to deliver: the report failed."
    assert delivery["next_attempt_at"] is None
    assert delivery["attempt_history"] == []  # never attempted
    assert admin_client_api.get(f"{BI}/deliveries", {"status": "failed"}).json()["results"] == []
    from reporting.services.search_sync import execution_document

    [synced] = execution_document(execution)["deliveries"]
    assert (synced["status"], synced["attempts"]) == ("skipped", 0)


def test_settling_skips_only_the_pending_deliveries_of_the_given_executions(
    organization, billing_template, succeeded, smtp_server, django_capture_on_commit_callbacks
):
    given_up, other = (
        ReportExecution.objects.create(
            organization=organization, template=billing_template, status="running"
        )
        for _ in range(2)
    )
    [sent] = send(succeeded, [email_target(organization)], django_capture_on_commit_callbacks)
    board = target_create(organization=organization, created_by=None, name="Board",
                         kind="email", config={"recipients": ["board@acme.test"]})  # fmt: skip
    deliveries_plan(plan=[(given_up, [sent.target, board]), (other, [board])])
    reason = "Nothing to deliver: the report was given up after 3 attempts."
    ids = [given_up.pk, succeeded.pk]
    assert deliveries_settle(execution_ids=ids, reason=reason) == 2
    assert deliveries_settle(execution_ids=ids, reason="again") == 0  # settling twice: no change
    by_execution = {
        (d.execution_id, d.target_id): (d.status, d.last_error, d.next_attempt_at)
        for d in Delivery.objects.all()
    }
    assert by_execution == {
        (given_up.pk, sent.target_id): ("skipped", reason, None),
        (given_up.pk, board.pk): ("skipped", reason, None),
        (succeeded.pk, sent.target_id): ("sent", "", None),  # an ended delivery keeps its end
        (other.pk, board.pk): ("pending", "", None),
    }


def test_an_altered_or_expired_link_is_refused(succeeded, settings):
    from reporting.links import output_link

    link = output_link(succeeded.outputs.get(format="csv"))
    path = link.removeprefix(settings.SITE_URL.rstrip("/"))
    assert Client().get(path).status_code == 200
    assert Client().get(path[:-2] + "xx").status_code == 403
    with time_machine.travel(timezone.now() + timedelta(days=8)):
        assert Client().get(path).status_code == 403


def test_delivery_targets_api_keeps_secrets_write_only(admin_client_api, settings):
    settings.DELIVERY_ALLOWED_HOSTS = ["127.0.0.1"]
    body = {"name": "Hook", "kind": "webhook",
            "config": {"url": "http://127.0.0.1:9/hook", "secret": SECRET}}  # fmt: skip
    created = admin_client_api.post(f"{BI}/delivery-targets", body, format="json")
    assert created.status_code == 201, created.json()
    assert "secret" not in created.json()["config"]
    url = f"{BI}/delivery-targets/{created.json()['id']}"
    patched = admin_client_api.patch(url, {"config": {"url": "http://127.0.0.1:9/other"}},
                                     format="json")  # fmt: skip
    assert patched.status_code == 200
    assert patched.json()["secrets_set"] == ["secret"]
    assert SECRET not in patched.content.decode()
    from delivery.models import DeliveryTarget
    from delivery.services import target_config

    assert target_config(DeliveryTarget.objects.get())["secret"] == SECRET


def test_a_webhook_to_a_private_address_is_a_400(admin_client_api):
    body = {"name": "Internal", "kind": "webhook",
            "config": {"url": "http://10.1.2.3/hook", "secret": SECRET}}  # fmt: skip
    response = admin_client_api.post(f"{BI}/delivery-targets", body, format="json")
    assert response.status_code == 400
    assert "url" in response.json()["config"]


def test_an_execution_request_names_its_delivery_targets(
    admin_client_api, organization, other_organization, billing_template
):
    ours = email_target(organization)
    theirs = email_target(other_organization)
    body = {"template_id": billing_template.pk, "parameters": {"month": "03", "year": 2025},
            "delivery_target_ids": [ours.pk]}  # fmt: skip
    response = admin_client_api.post(f"{BI}/report-executions", body, format="json")
    assert response.status_code == 202
    assert Delivery.objects.get().target == ours
    body["delivery_target_ids"] = [theirs.pk]
    response = admin_client_api.post(f"{BI}/report-executions", body, format="json")
    assert response.status_code == 400
    assert "delivery_target_ids" in response.json()


def test_delivery_endpoints_are_for_admins_of_the_organisation(
    analyst_client, admin_client_api, other_organization
):
    assert analyst_client.get(f"{BI}/delivery-targets").status_code == 403
    assert analyst_client.get(f"{BI}/deliveries").status_code == 403
    theirs = email_target(other_organization)
    assert admin_client_api.get(f"{BI}/delivery-targets/{theirs.pk}").status_code == 404


def test_a_settled_delivery_refreshes_the_executions_copy_in_elasticsearch(
    organization, succeeded, smtp_server, settings, django_capture_on_commit_callbacks
):
    settings.ELASTICSEARCH_ENABLED = True
    deliveries_plan(plan=[(succeeded, [email_target(organization)])])
    with django_capture_on_commit_callbacks():
        deliveries_start(execution=succeeded)
    [delivery] = succeeded.deliveries.all()
    with django_capture_on_commit_callbacks() as queued:
        delivery = delivery_attempt(delivery_pk=delivery.pk)
    assert delivery.status == "sent"
    assert len(queued) == 1  # the sync of this execution, with its delivery now sent


def test_a_switched_off_target_receives_nothing_until_switched_on_and_redelivered(
    organization, succeeded, smtp_server, django_capture_on_commit_callbacks
):
    target = email_target(organization)
    target.enabled = False
    target.save()
    deliveries_plan(plan=[(succeeded, [target])])
    with django_capture_on_commit_callbacks() as enqueued:
        deliveries_start(execution=succeeded)
    assert enqueued == []
    [delivery] = succeeded.deliveries.all()
    assert (delivery.status, delivery.last_error) == (
        DeliveryStatus.SKIPPED, "Not sent: the delivery target is switched off."
    )  # fmt: skip

    delivery_redeliver(delivery=delivery)  # still off: skipped again, nothing sent
    assert delivery_attempt(delivery_pk=delivery.pk) is None
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SKIPPED
    assert smtp_server.messages == []

    target.enabled = True
    target.save()
    delivery_redeliver(delivery=delivery)
    assert delivery_attempt(delivery_pk=delivery.pk).status == DeliveryStatus.SENT
    [(recipients, _)] = smtp_server.messages
    assert recipients == ["ana@acme.test"]
