"""A delivery's message to the broker can be lost (the broker is down when it is sent, or the
worker holding it dies); the pending delivery in the database is the outbox, and the every-minute
check (`deliveries_retry_due`) sends it again once it is due. A lost message delays, never loses.
"""

import logging
import time
from datetime import timedelta

import pytest
import time_machine
from django.db import transaction
from django.utils import timezone

from conftest import broker_messages
from delivery.services import (
    deliveries_plan,
    deliveries_retry_due,
    deliveries_start,
    target_create,
)
from delivery.tasks import deliver_report

BI = "/api/v1/business-intelligence"


def email_target(organization):
    return target_create(organization=organization, created_by=None, name="Finance",
                         kind="email", config={"recipients": ["ana@acme.test"]})  # fmt: skip


def queued_deliveries() -> list[int]:
    return broker_messages(deliver_report.name)


def test_a_broker_down_when_the_report_ends_is_logged_and_the_next_check_sends_the_delivery(
    transactional_db, organization, succeeded, smtp_server, broker_down, caplog
):
    deliveries_plan(plan=[(succeeded, [email_target(organization)])])
    with caplog.at_level(logging.WARNING), transaction.atomic():
        deliveries_start(execution=succeeded)  # the execution's end, as it commits
    assert f"127.0.0.1:{broker_down.port}" in caplog.text  # logged, naming the broker
    [delivery] = succeeded.deliveries.all()
    assert delivery.status == "pending"
    assert delivery.next_attempt_at <= timezone.now()  # due: nothing else waits for it

    broker_down.start()  # back, and empty: the first message is gone
    assert deliveries_retry_due() == [delivery.pk]
    [message_for] = queued_deliveries()
    assert message_for == delivery.pk
    deliver_report(message_for)  # what the worker does with it
    delivery.refresh_from_db()
    assert delivery.status == "sent"
    [(recipients, message)] = smtp_server.messages
    assert recipients == ["ana@acme.test"]
    assert "Monthly Billing Summary" in message["Subject"]


def test_a_redeliver_while_the_broker_is_down_answers_202_not_500(
    transactional_db, organization, succeeded, smtp_server, broker_down, admin_client_api
):
    deliveries_plan(plan=[(succeeded, [email_target(organization)])])
    [delivery] = succeeded.deliveries.all()
    response = admin_client_api.post(f"{BI}/deliveries/{delivery.pk}/redeliver")
    assert response.status_code == 202
    assert response.json()["status"] == "pending"
    broker_down.start()
    assert deliveries_retry_due() == [delivery.pk]
    assert queued_deliveries() == [delivery.pk]


@pytest.fixture
def delivery_worker(request, monkeypatch, webhook_receiver):
    """A real prefork worker (PostgreSQL only) that may post to the local webhook receiver."""
    monkeypatch.setenv("DELIVERY_ALLOWED_HOSTS", "127.0.0.1")
    return request.getfixturevalue("live_worker")


def test_a_delivery_whose_worker_died_mid_attempt_is_sent_again_once_its_lease_runs_out(
    transactional_db, delivery_worker, organization, succeeded, webhook_receiver,
    admin_client_api, settings,
):  # fmt: skip
    webhook_receiver.slow_seconds = 60  # the receiver holds the request: the worker waits
    config = {"url": webhook_receiver.url("/slow"), "secret": "a-webhook-secret-of-some-length"}
    hook = target_create(
        organization=organization, created_by=None, name="Billing", kind="webhook", config=config
    )
    deliveries_plan(plan=[(succeeded, [hook])])
    deliveries_start(execution=succeeded)  # committed: the message goes to the worker
    deadline = time.monotonic() + 60
    while not webhook_receiver.requests and time.monotonic() < deadline:
        time.sleep(0.05)
    assert webhook_receiver.requests, "the worker never posted the webhook"
    delivery_worker.kill()  # mid-attempt: the attempt never ends

    [delivery] = succeeded.deliveries.all()
    [attempt] = delivery.attempt_history.all()
    assert (delivery.status, delivery.attempts, attempt.outcome) == ("pending", 1, "started")
    lease = timedelta(seconds=settings.DELIVERY_LEASE_SECONDS)
    assert abs(delivery.next_attempt_at - (attempt.started_at + lease)) < timedelta(seconds=5)
    assert deliveries_retry_due() == []  # it could still be sending: nobody else may yet

    webhook_receiver.slow_seconds = 0
    with time_machine.travel(delivery.next_attempt_at + timedelta(seconds=1), tick=False):
        assert deliveries_retry_due() == [delivery.pk]  # the next every-minute check
        deliver_report(delivery.pk)  # a worker takes the re-sent message

    body = admin_client_api.get(f"{BI}/deliveries/{delivery.pk}").json()
    assert body["status"] == "sent"
    history = [(a["number"], a["outcome"], a["duration_ms"]) for a in body["attempt_history"]]
    assert history[0] == (1, "started", None)  # the attempt its worker died in
    assert history[1][:2] == (2, "sent")
    # The receiver saw the first request too: it drops the repeat by its webhook-id.
    assert {r.headers["webhook-id"] for r in webhook_receiver.requests} == {body["delivery_id"]}


@pytest.mark.django_db
def test_a_message_nobody_claims_is_sent_again_after_waits_that_double(organization, succeeded):
    """Workers far behind: the check sends a copy after 1, 2, 4, 8 minutes, then every 5, not
    every minute (the claim would make copies harmless, but a backlog would fill the broker)."""
    deliveries_plan(plan=[(succeeded, [email_target(organization)])])
    deliveries_start(execution=succeeded)  # sent once the transaction commits
    [delivery] = succeeded.deliveries.all()
    sent_at = delivery.enqueued_at

    def resent(second: int) -> bool:
        return deliveries_retry_due(now=sent_at + timedelta(seconds=second)) == [delivery.pk]

    assert [second for second in range(0, 1200, 10) if resent(second)] == [
        60, 120, 240, 480, 780, 1080
    ]  # fmt: skip
