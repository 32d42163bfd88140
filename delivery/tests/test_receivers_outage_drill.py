"""Fault drill (issue 12): the mail server and the webhook receiver are down, then up again.

Real receivers on their own ports (aiosmtpd and an HTTP server) are stopped, so connections to
them are refused. Deliveries are attempted on the documented schedule, fail and wait; the
receivers come back; the due attempts run. Every recipient gets one e-mail, every delivery id
one webhook, and the API lists each delivery's attempts: the failures, then the success.
"""

from datetime import UTC, datetime, timedelta

import time_machine
from standardwebhooks import Webhook

from delivery.services import (
    deliveries_plan,
    deliveries_retry_due,
    deliveries_start,
    delivery_attempt,
    target_create,
)

BI = "/api/v1/business-intelligence"
SECRET = "a-webhook-secret-of-some-length"
RECIPIENTS = ["ana@acme.test", "ben@acme.test"]
T0 = datetime(2025, 4, 1, 6, 0, tzinfo=UTC)


def run_due_attempts(at: datetime, django_capture_on_commit_callbacks) -> list[int]:
    """The every-minute check at `at`, and a worker taking each message it sends."""
    with time_machine.travel(at, tick=False):
        with django_capture_on_commit_callbacks() as sent:
            due = deliveries_retry_due()
        assert len(sent) == len(due)  # one deliver_report message per due delivery
        for pk in due:
            delivery_attempt(delivery_pk=pk)
    return due


def test_receivers_down_then_up_one_email_per_recipient_one_webhook_per_delivery(
    organization, succeeded, smtp_server, webhook_receiver, admin_client_api,
    django_capture_on_commit_callbacks,
):  # fmt: skip
    targets = [
        target_create(organization=organization, created_by=None, name="Finance", kind="email",
                      config={"recipients": RECIPIENTS}),
        target_create(organization=organization, created_by=None, name="Ledger", kind="webhook",
                      config={"url": webhook_receiver.url("/ledger"), "secret": SECRET}),
        target_create(organization=organization, created_by=None, name="Archive", kind="webhook",
                      config={"url": webhook_receiver.url("/archive"), "secret": SECRET}),
    ]  # fmt: skip
    smtp_server.stop()
    webhook_receiver.stop()

    with time_machine.travel(T0, tick=False):
        deliveries_plan(plan=[(succeeded, targets)])
        with django_capture_on_commit_callbacks():
            deliveries_start(execution=succeeded)
        # A worker takes each message the execution's end sent.
        for pk in succeeded.deliveries.values_list("pk", flat=True):
            delivery_attempt(delivery_pk=pk)
    assert run_due_attempts(T0, django_capture_on_commit_callbacks) == []  # sent, not lost
    # Down: each delivery failed once and waits its first retry delay, one minute.
    for delivery in succeeded.deliveries.all():
        assert (delivery.status, delivery.attempts) == ("pending", 1)
        assert delivery.next_attempt_at == T0 + timedelta(minutes=1)
    assert run_due_attempts(T0 + timedelta(seconds=59), django_capture_on_commit_callbacks) == []
    assert len(run_due_attempts(T0 + timedelta(minutes=1), django_capture_on_commit_callbacks)) == 3
    assert {d.next_attempt_at for d in succeeded.deliveries.all()} == {T0 + timedelta(minutes=6)}

    smtp_server.start()
    webhook_receiver.start()
    assert len(run_due_attempts(T0 + timedelta(minutes=6), django_capture_on_commit_callbacks)) == 3
    # Later checks find nothing left to send.
    assert run_due_attempts(T0 + timedelta(hours=5), django_capture_on_commit_callbacks) == []

    recipients = sorted(address for to, _ in smtp_server.messages for address in to)
    assert recipients == RECIPIENTS  # one e-mail each
    for _, message in smtp_server.messages:
        assert "Monthly Billing Summary" in message["Subject"]
        attached = sorted(part.get_filename() for part in message.iter_attachments())
        assert attached == [
            f"monthly-billing-summary_2025-03_{succeeded.pk}.{f}" for f in ("csv", "pdf")
        ]

    listed = admin_client_api.get(f"{BI}/deliveries", {"execution": succeeded.pk}).json()
    deliveries = {d["target_name"]: d for d in listed["results"]}
    assert {d["status"] for d in deliveries.values()} == {"sent"}
    hooks = {name: deliveries[name]["delivery_id"] for name in ("Ledger", "Archive")}
    received = [(r.path, r.headers["webhook-id"]) for r in webhook_receiver.requests]
    assert sorted(received) == sorted(
        [("/archive", hooks["Archive"]), ("/ledger", hooks["Ledger"])]
    )
    for request in webhook_receiver.requests:  # signed, and for the delivery it names
        with time_machine.travel(T0 + timedelta(minutes=6), tick=False):  # when it arrived
            payload = Webhook(SECRET.encode()).verify(request.body, request.headers)
        assert payload["delivery_id"] == request.headers["webhook-id"]
        assert payload["execution_id"] == succeeded.pk

    for name, delivery in deliveries.items():
        history = [
            (a["number"], a["started_at"], a["outcome"], a["response_status"])
            for a in delivery["attempt_history"]
        ]
        sent_status = 200 if name in hooks else None
        assert history == [
            (1, "2025-04-01T06:00:00Z", "retrying", None),
            (2, "2025-04-01T06:01:00Z", "retrying", None),
            (3, "2025-04-01T06:06:00Z", "sent", sent_status),
        ], name
        failures = [a["error"] for a in delivery["attempt_history"][:2]]
        if name in hooks:
            assert all("refused" in error.lower() for error in failures), failures
        else:
            assert all(e.startswith("Could not connect to the mail server") for e in failures)
        assert delivery["attempt_history"][2]["error"] == ""
