"""A delivery whose receiver keeps refusing is retried on the README's schedule (after 1 and
5 minutes, 30 minutes, 2 and 4 hours), then stays failed after its sixth attempt."""

from datetime import UTC, datetime, timedelta

import time_machine
from django.utils import timezone

from delivery.models import DeliveryStatus
from delivery.services import deliveries_plan, deliveries_start, delivery_attempt, target_create
from reporting.models import ReportExecution

README_DELAYS = [
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=4),
]


def test_each_retry_waits_the_documented_delay_then_the_delivery_fails(
    organization, billing_template, webhook_receiver, settings
):
    settings.DELIVERY_MAX_ATTEMPTS = 6  # the README's default
    refusing = {"url": webhook_receiver.url("/fail"), "secret": "a-webhook-secret-of-some-length"}
    target = target_create(
        organization=organization, created_by=None, name="Hook", kind="webhook", config=refusing
    )
    attempt_at = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
    with time_machine.travel(attempt_at, tick=False):
        execution = ReportExecution.objects.create(
            organization=organization, template=billing_template, status="succeeded",
            parameters={"month": "03", "year": 2025}, finished_at=timezone.now(),
        )  # fmt: skip
        deliveries_plan(plan=[(execution, [target])])
        deliveries_start(execution=execution)
    [delivery] = execution.deliveries.all()
    assert delivery.next_attempt_at == attempt_at

    for number, delay in enumerate(README_DELAYS, start=1):
        with time_machine.travel(attempt_at, tick=False):
            delivery = delivery_attempt(delivery_pk=delivery.pk)
        assert (delivery.status, delivery.attempts) == (DeliveryStatus.PENDING, number)
        assert delivery.next_attempt_at == attempt_at + delay, f"after attempt {number}"
        with time_machine.travel(delivery.next_attempt_at - timedelta(seconds=1), tick=False):
            assert delivery_attempt(delivery_pk=delivery.pk) is None  # not due yet
        attempt_at = delivery.next_attempt_at

    with time_machine.travel(attempt_at, tick=False):
        delivery = delivery_attempt(delivery_pk=delivery.pk)
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == ("failed", 6, None)
    assert delivery.response_status == 500
    assert len(webhook_receiver.requests) == 6  # one request per attempt, none in between
    assert len({r.headers["webhook-id"] for r in webhook_receiver.requests}) == 1
