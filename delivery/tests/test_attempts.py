"""Every attempt at a delivery leaves a row: when it started, how long it took, its outcome, the
receiver's answer and the error. The API lists them oldest first with the delivery; the admin
shows them read-only."""

import threading
import time
from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import Role
from accounts.tests.factories import MembershipFactory, UserFactory
from delivery.models import DeliveryAttempt
from delivery.services import (
    deliveries_plan,
    deliveries_settle,
    deliveries_start,
    delivery_attempt,
    delivery_redeliver,
    target_create,
    target_update,
)

BI = "/api/v1/business-intelligence"
SECRET = "a-webhook-secret-of-some-length"


@pytest.fixture
def hook(organization, webhook_receiver):
    return target_create(organization=organization, created_by=None, name="Billing system",
                         kind="webhook", config={"url": webhook_receiver.url("/fail"),
                                                 "secret": SECRET})  # fmt: skip


def start(execution, target):
    deliveries_plan(plan=[(execution, [target])])
    deliveries_start(execution=execution)
    return execution.deliveries.get()


def attempt_when_due(delivery):
    with time_machine.travel(delivery.next_attempt_at + timedelta(seconds=1), tick=False):
        return delivery_attempt(delivery_pk=delivery.pk)


def test_the_api_lists_each_attempt_oldest_first_with_its_outcome(
    succeeded, hook, webhook_receiver, admin_client_api
):
    delivery = delivery_attempt(delivery_pk=start(succeeded, hook).pk)
    target_update(target=hook, config={"url": webhook_receiver.url("/hook")})
    attempt_when_due(delivery)

    body = admin_client_api.get(f"{BI}/deliveries/{delivery.pk}").json()
    assert (body["status"], body["attempts"]) == ("sent", 2)
    first, second = body["attempt_history"]
    assert (first["number"], first["outcome"], first["response_status"]) == (1, "retrying", 500)
    assert first["error"].startswith("127.0.0.1 answered 500: Internal trouble")
    assert (second["number"], second["outcome"], second["response_status"]) == (2, "sent", 200)
    assert second["error"] == ""
    assert first["started_at"] < second["started_at"]
    assert all(0 <= attempt["duration_ms"] < 5000 for attempt in (first, second))
    listed = admin_client_api.get(f"{BI}/deliveries", {"execution": succeeded.pk}).json()
    assert listed["results"][0]["attempt_history"] == body["attempt_history"]


def test_another_organisations_delivery_and_its_attempts_are_a_404(
    succeeded, hook, other_organization
):
    delivery_attempt(delivery_pk=start(succeeded, hook).pk)
    client = APIClient()
    client.force_authenticate(
        MembershipFactory(organization=other_organization, role=Role.ADMIN).user
    )
    delivery = succeeded.deliveries.get()
    assert client.get(f"{BI}/deliveries/{delivery.pk}").status_code == 404
    assert client.get(f"{BI}/deliveries").json()["results"] == []


def test_the_last_attempt_says_the_delivery_gave_up(succeeded, hook, settings):
    settings.DELIVERY_MAX_ATTEMPTS = 2
    delivery = delivery_attempt(delivery_pk=start(succeeded, hook).pk)
    delivery = attempt_when_due(delivery)
    assert delivery.status == "failed"
    outcomes = list(delivery.attempt_history.values_list("number", "outcome"))
    assert outcomes == [(1, "retrying"), (2, "failed")]


def test_an_unexpected_error_is_recorded_as_an_attempt_and_retried(
    succeeded, hook, organization, caplog
):
    # A time zone that no longer exists (bypassing validation) breaks the message being built:
    # not a delivery error any channel foresaw.
    type(organization).objects.filter(pk=organization.pk).update(time_zone="Mars/Olympus_Mons")
    type(succeeded).objects.filter(pk=succeeded.pk).update(slot_at=timezone.now())
    delivery = delivery_attempt(delivery_pk=start(succeeded, hook).pk)
    assert (delivery.status, delivery.attempts) == ("pending", 1)
    [attempt] = delivery.attempt_history.all()
    assert attempt.outcome == "retrying"
    assert attempt.error.startswith("Unexpected error: ZoneInfoNotFoundError")
    assert attempt.duration_ms is not None
    assert delivery.last_error == attempt.error
    assert "failed unexpectedly" in caplog.text


def test_a_redelivery_keeps_the_earlier_attempts(succeeded, hook, settings, webhook_receiver):
    settings.DELIVERY_MAX_ATTEMPTS = 1
    delivery = delivery_attempt(delivery_pk=start(succeeded, hook).pk)
    assert delivery.status == "failed"
    target_update(target=hook, config={"url": webhook_receiver.url("/hook")})
    delivery_redeliver(delivery=delivery)
    delivery = delivery_attempt(delivery_pk=delivery.pk)
    history = list(delivery.attempt_history.values_list("number", "outcome", "response_status"))
    assert history == [(1, "failed", 500), (1, "sent", 200)]


def attempt_in_flight(delivery, webhook_receiver) -> threading.Thread:
    """A worker's attempt, in a thread, once it is waiting on the (slow) receiver."""

    def worker() -> None:
        try:
            delivery_attempt(delivery_pk=delivery.pk)
        finally:
            connection.close()

    in_flight = threading.Thread(target=worker)
    in_flight.start()
    deadline = time.monotonic() + 10
    while not webhook_receiver.requests and time.monotonic() < deadline:
        time.sleep(0.02)
    return in_flight


def test_an_attempt_whose_delivery_was_settled_meanwhile_changes_only_its_own_row(
    transactional_db, succeeded, hook, webhook_receiver
):
    """A worker is mid-attempt (the receiver is slow) when the execution's deliveries are
    settled: the attempt's late end must not turn the skipped delivery into sent."""
    webhook_receiver.slow_seconds = 1
    target_update(target=hook, config={"url": webhook_receiver.url("/slow")})
    delivery = start(succeeded, hook)
    in_flight = attempt_in_flight(delivery, webhook_receiver)
    assert deliveries_settle(execution_ids=[succeeded.pk], reason="Cancelled.") == 1
    in_flight.join(timeout=20)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.last_error) == ("skipped", "Cancelled.")
    [attempt] = DeliveryAttempt.objects.all()
    assert (attempt.outcome, attempt.response_status) == ("sent", 200)


def test_an_attempt_that_outlived_its_lease_cannot_overwrite_the_one_that_took_over(
    transactional_db, succeeded, hook, webhook_receiver, settings, caplog
):
    """Attempt 1 hangs on a slow receiver past its lease; attempt 2 takes the delivery over and
    fails. Attempt 1's late success is kept in its own row and changes nothing else."""
    webhook_receiver.slow_seconds = 1
    target_update(target=hook, config={"url": webhook_receiver.url("/slow")})
    delivery = start(succeeded, hook)
    in_flight = attempt_in_flight(delivery, webhook_receiver)
    target_update(target=hook, config={"url": webhook_receiver.url("/fail")})
    after_lease = timezone.now() + timedelta(seconds=settings.DELIVERY_LEASE_SECONDS + 1)
    taken_over = delivery_attempt(delivery_pk=delivery.pk, now=after_lease)
    assert (taken_over.status, taken_over.attempts, taken_over.response_status) == (
        "pending",
        2,
        500,
    )
    in_flight.join(timeout=20)

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.response_status) == ("pending", 2, 500)
    assert delivery.next_attempt_at == after_lease + timedelta(minutes=5)
    history = list(delivery.attempt_history.values_list("number", "outcome", "response_status"))
    assert history == [(1, "sent", 200), (2, "retrying", 500)]
    assert "attempt 1 ended sent after its lease was lost" in caplog.text


def test_the_admin_shows_the_attempts_read_only(succeeded, hook, organization):
    delivery = delivery_attempt(delivery_pk=start(succeeded, hook).pk)
    staff = UserFactory(is_staff=True)
    MembershipFactory(organization=organization, user=staff, role=Role.ADMIN)
    client = Client()
    client.force_login(staff)
    page = client.get(f"/admin/delivery/delivery/{delivery.pk}/change/").content.decode()
    assert "Failed, will retry" in page
    assert "127.0.0.1 answered 500" in page
    assert 'name="attempt_history-0-outcome"' not in page  # read-only: no form field
    assert "attempt_history-0-DELETE" not in page
