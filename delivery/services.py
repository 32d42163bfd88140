"""Delivering report outputs to targets: one Delivery per execution and target, retried with
backoff until sent or out of attempts. A delivery never changes its execution's status.

Retries are driven by the database (`next_attempt_at`, checked every minute), not by Celery
countdowns: with a Redis broker, a message whose ETA is further away than the visibility
timeout is delivered again early, which would send a report twice.

The pending delivery is its own outbox: its deliver_report message is sent on commit, and a
message lost on the way (broker down, worker killed) only delays it, as the every-minute check
sends every due delivery again and the claim drops the duplicates. An attempt in flight holds
its delivery for DELIVERY_LEASE_SECONDS; if its worker dies, the delivery is due again then.
"""

import logging
import time
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Exists, F, OuterRef, QuerySet
from django.utils import timezone

from accounts.models import Organization
from config.encryption import secrets_decrypt, secrets_encrypt, secrets_reencrypt
from config.errors import ApplicationError
from config.outbox import resend_due
from delivery.channels import get_channel
from delivery.channels.base import (
    DeliveredFile,
    DeliveryError,
    DeliveryMessage,
    DeliveryResult,
)
from delivery.models import (
    AttemptOutcome,
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    DeliveryTarget,
)
from events.copy_insert import instances_insert_new
from reporting.links import output_link
from reporting.models import ReportExecution, ReportOutput, report_storage
from reporting.services.search_sync import search_sync_on_commit

log = logging.getLogger(__name__)

# Waits after attempts 1 to 5: the sixth and last attempt comes about 6.6 hours after the first.
RETRY_DELAYS = (60, 5 * 60, 30 * 60, 2 * 3600, 4 * 3600)
SWITCHED_OFF = "Not sent: the delivery target is switched off."


# --- targets ---------------------------------------------------------------------------------


@transaction.atomic
def target_create(
    *, organization: Organization, created_by: AbstractBaseUser | None, **fields: Any
) -> DeliveryTarget:
    target = DeliveryTarget(organization=organization, created_by=created_by)
    target_fields_apply(target=target, fields=fields)
    return target_store(target=target)


@transaction.atomic
def target_update(*, target: DeliveryTarget, **fields: Any) -> DeliveryTarget:
    target_fields_apply(target=target, fields=fields)
    return target_store(target=target)


def target_fields_apply(*, target: DeliveryTarget, fields: dict[str, Any]) -> None:
    """Sets the fields on the (unsaved) target and validates it; its config is then whole,
    secrets in the clear, until `target_store` seals them."""
    fields = dict(fields)
    if target.pk and fields.get("config") is None:
        fields["config"] = target_config(target)
    elif target.pk and isinstance(fields["config"], dict) and _same_place(target, fields):
        # Secrets are write-only: a config sent back without them keeps the stored ones.
        fields["config"] = {**target_secrets(target), **fields["config"]}
    for name in ("organization", "name", "kind", "config", "enabled"):
        if name in fields and fields[name] is not None:
            setattr(target, name, fields[name])
    target_validate(target)


def target_store(*, target: DeliveryTarget) -> DeliveryTarget:
    """Saves a validated target with its secrets encrypted, out of `config`."""
    secret_fields = get_channel(target.kind).secret_fields
    secrets = {key: value for key, value in target.config.items() if key in secret_fields}
    target.config = {key: v for key, v in target.config.items() if key not in secret_fields}
    target.secrets = secrets_encrypt(secrets)
    target.save()
    return target


def _same_place(target: DeliveryTarget, fields: dict[str, Any]) -> bool:
    """Stored secrets only carry over to the same kind (and storage backend) of target."""
    return fields.get("kind", target.kind) == target.kind and fields["config"].get(
        "backend", target.config.get("backend")
    ) == target.config.get("backend")


def target_secrets(target: DeliveryTarget) -> dict[str, Any]:
    """The target's secrets in the clear (and any a target saved before encryption still has
    in its config)."""
    secret_fields = get_channel(target.kind).secret_fields
    stored = {key: value for key, value in target.config.items() if key in secret_fields}
    return {**stored, **secrets_decrypt(target.secrets)}


def target_config(target: DeliveryTarget) -> dict[str, Any]:
    """The whole config a channel sends with: settings and secrets in the clear. The one way
    to read a target's secrets."""
    return {**target.config, **target_secrets(target)}


def target_secrets_set(target: DeliveryTarget) -> list[str]:
    """Which secrets are stored, by name, without their values."""
    return sorted(target_secrets(target))


def targets_reencrypt() -> int:
    """Every stored secret encrypted again with the first of FIELD_ENCRYPTION_KEYS."""
    count = 0
    for pk, token in DeliveryTarget.objects.exclude(secrets="").values_list("pk", "secrets"):
        DeliveryTarget.objects.filter(pk=pk, secrets=token).update(secrets=secrets_reencrypt(token))
        count += 1
    return count


def target_validate(target: DeliveryTarget) -> None:
    try:
        channel = get_channel(target.kind)
    except KeyError:
        raise ApplicationError(
            "Unknown kind.", errors={"kind": [f"{target.kind!r} is not email, storage or webhook."]}
        ) from None
    if not isinstance(target.config or {}, dict):
        raise ApplicationError(
            "The config must be a JSON object.", errors={"config": ["Expected an object."]}
        )
    target.config = channel.config_validate(
        target.config or {},
        allowed_email_domains=target.organization.allowed_email_domains,
        organization_id=str(target.organization_id),
    )
    clash = DeliveryTarget.objects.filter(organization=target.organization, name=target.name)
    if clash.exclude(pk=target.pk).exists():
        raise ApplicationError("A target with this name exists.", errors={"name": ["In use."]})


def targets_validate(*, organization_id: int, targets: Iterable[DeliveryTarget]) -> None:
    """A report is delivered only to its own organisation's targets, whichever door chose them."""
    if any(target.organization_id != organization_id for target in targets):
        raise ApplicationError(
            "The delivery targets are not valid.",
            errors={"delivery_targets": ["Choose targets of the report's own organisation."]},
        )


def target_public_config(target: DeliveryTarget) -> dict[str, Any]:
    return get_channel(target.kind).config_public(target.config)


def target_test(*, target: DeliveryTarget) -> tuple[bool, str]:
    try:
        result = get_channel(target.kind).send_test(
            target_config(target),
            organization_id=str(target.organization_id),
            organization_name=target.organization.name,
        )
    except DeliveryError as error:
        return False, error.message
    return True, result.detail


# --- deliveries ------------------------------------------------------------------------------


def deliveries_plan(*, plan: Iterable[tuple[ReportExecution, Iterable[DeliveryTarget]]]) -> None:
    """Pending deliveries, sent once their execution succeeds: one INSERT for all of them."""
    deliveries_plan_ids(pairs=[(e.pk, t.pk) for e, targets in plan for t in targets])


def deliveries_plan_ids(*, pairs: Iterable[tuple[int, int]]) -> None:
    """deliveries_plan by (execution id, target id)."""
    instances_insert_new([Delivery(execution_id=e, target_id=t) for e, t in pairs])


def deliveries_start(*, execution: ReportExecution) -> None:
    """The execution ended: send its deliveries if it succeeded, else close them."""
    if execution.status != "succeeded":
        deliveries_settle(
            execution_ids=[execution.pk],
            reason=f"Nothing to deliver: the report {execution.status}.",
        )
        return
    pending = Delivery.objects.filter(execution=execution, status=DeliveryStatus.PENDING)
    _skip_switched_off(pending)
    now = timezone.now()
    pending.update(next_attempt_at=now, enqueued_at=now)
    for pk in pending.values_list("pk", flat=True):
        transaction.on_commit(lambda pk=pk: _send(pk))


def _skip_switched_off(pending: QuerySet[Delivery]) -> int:
    """A target switched off (`enabled` unticked) receives nothing: its pending deliveries end
    `skipped`, saying so, and can be sent with Redeliver once it is on again."""
    return pending.filter(target__enabled=False).update(
        status=DeliveryStatus.SKIPPED, last_error=SWITCHED_OFF, next_attempt_at=None
    )


def deliveries_settle(*, execution_ids: list[int], reason: str) -> int:
    """Every still-pending delivery of these executions ends `skipped` with the reason (one
    UPDATE); returns how many. For executions that ended with nothing to send, by any path
    (failure, cancel, the sweep giving up). Deliveries already sent or failed keep their end;
    settling twice changes nothing."""
    return Delivery.objects.filter(
        execution_id__in=execution_ids, status=DeliveryStatus.PENDING
    ).update(status=DeliveryStatus.SKIPPED, last_error=reason, next_attempt_at=None)


def deliveries_retry_due(*, now: datetime | None = None) -> list[int]:
    """Pending deliveries whose next attempt is due, each sent to the broker again (the
    every-minute check): a retry, or a message that was lost, or a lease that ran out."""
    now = now or timezone.now()
    due = Delivery.objects.filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=now)
    rows = due.order_by("next_attempt_at").values_list("pk", "next_attempt_at", "enqueued_at")
    ids = [pk for pk, due_at, enqueued_at in rows[:1000] if _send_again(now, due_at, enqueued_at)]
    Delivery.objects.filter(pk__in=ids).update(enqueued_at=now)
    for pk in ids:
        transaction.on_commit(lambda pk=pk: _send(pk))
    return ids


def _send_again(now: datetime, due_at: datetime, enqueued_at: datetime | None) -> bool:
    """Not sent since it fell due (a retry, a lease that ran out); else as any outbox message."""
    if enqueued_at is not None and enqueued_at < due_at:
        return True
    return resend_due(now=now, waiting_since=due_at, sent_at=enqueued_at)


def delivery_redeliver(*, delivery: Delivery) -> Delivery:
    """An admin asks again: one more round of attempts, keeping the delivery id."""
    now = timezone.now()
    Delivery.objects.filter(pk=delivery.pk).update(
        status=DeliveryStatus.PENDING, next_attempt_at=now, enqueued_at=now, attempts=0
    )
    transaction.on_commit(lambda: _send(delivery.pk))
    delivery.refresh_from_db()
    return delivery


def _send(delivery_pk: int) -> None:
    """A broker that is down is logged, not raised into the request or the execution's end;
    the delivery is marked unsent, so the every-minute check sends it again."""
    from delivery.tasks import deliver_report

    try:
        deliver_report.delay(delivery_pk)
    except Exception as error:  # any broker failure; the pending delivery is the outbox
        log.warning("The broker did not take delivery %s (%s: %s); the every-minute check "
                    "sends it again.", delivery_pk, type(error).__name__, error)  # fmt: skip
        Delivery.objects.filter(pk=delivery_pk).update(enqueued_at=None)


def delivery_attempt(*, delivery_pk: int, now: datetime | None = None) -> Delivery | None:
    """One attempt, claimed so that two workers never send the same delivery at once. Every
    attempt leaves a DeliveryAttempt row, whatever its end (an unexpected error included)."""
    now = now or timezone.now()
    if _skip_switched_off(Delivery.objects.filter(pk=delivery_pk, status=DeliveryStatus.PENDING)):
        return None
    attempt = _attempt_claim(delivery_pk, now)
    if attempt is None:
        return None
    delivery = Delivery.objects.select_related(
        "target", "execution__template", "execution__organization", "execution__schedule"
    ).get(pk=delivery_pk)
    started = time.monotonic()
    result = _attempt_send(delivery)
    attempt.duration_ms = round((time.monotonic() - started) * 1000)
    if isinstance(result, DeliveryError):
        _attempt_failed(delivery, attempt, result, now)
    else:
        _attempt_end(delivery, attempt, AttemptOutcome.SENT, result.response_status, "")
    delivery.refresh_from_db()
    if delivery.status != DeliveryStatus.PENDING:
        search_sync_on_commit(delivery.execution)  # its copy in Elasticsearch shows the outcome
    return delivery


@transaction.atomic
def _attempt_claim(delivery_pk: int, now: datetime) -> DeliveryAttempt | None:
    """The claim holds the delivery for DELIVERY_LEASE_SECONDS (in next_attempt_at); its
    attempt row, written with it, is the token the attempt's end is fenced on."""
    lease_until = now + timedelta(seconds=settings.DELIVERY_LEASE_SECONDS)
    claimed = Delivery.objects.filter(
        pk=delivery_pk, status=DeliveryStatus.PENDING, next_attempt_at__lte=now
    ).update(attempts=F("attempts") + 1, next_attempt_at=lease_until)
    if not claimed:
        return None
    number = Delivery.objects.values_list("attempts", flat=True).get(pk=delivery_pk)
    return DeliveryAttempt.objects.create(
        delivery_id=delivery_pk, number=number, started_at=timezone.now()
    )


def _attempt_send(delivery: Delivery) -> DeliveryResult | DeliveryError:
    try:
        return get_channel(delivery.target.kind).deliver(
            target_config(delivery.target), delivery_message(delivery)
        )
    except DeliveryError as error:
        return error
    except Exception as error:  # a bug or an outage we did not foresee: record it, retry
        log.exception("Delivery %s failed unexpectedly.", delivery.pk)
        return DeliveryError(f"Unexpected error: {type(error).__name__}: {error}")


def _attempt_failed(
    delivery: Delivery, attempt: DeliveryAttempt, error: DeliveryError, now: datetime
) -> None:
    done = not error.retry or attempt.number >= settings.DELIVERY_MAX_ATTEMPTS
    delay = RETRY_DELAYS[min(attempt.number, len(RETRY_DELAYS)) - 1]
    outcome = AttemptOutcome.FAILED if done else AttemptOutcome.RETRYING
    _attempt_end(
        delivery,
        attempt,
        outcome,
        error.response_status,
        error.message,
        next_attempt_at=None if done else now + timedelta(seconds=delay),
    )


def _attempt_end(
    delivery: Delivery,
    attempt: DeliveryAttempt,
    outcome: AttemptOutcome,
    response_status: int | None,
    error: str,
    *,
    next_attempt_at: datetime | None = None,
) -> None:
    """Fenced on the attempt's lease: once the delivery was settled, redelivered or taken over
    after the lease ran out, this late end changes only its own attempt row."""
    status = {
        AttemptOutcome.SENT: DeliveryStatus.SENT,
        AttemptOutcome.RETRYING: DeliveryStatus.PENDING,
        AttemptOutcome.FAILED: DeliveryStatus.FAILED,
    }[outcome]
    ended = {"status": status, "last_error": error, "response_status": response_status}
    if status == DeliveryStatus.SENT:
        ended["sent_at"] = timezone.now()
    newer = DeliveryAttempt.objects.filter(delivery=OuterRef("pk"), pk__gt=attempt.pk)
    held = Delivery.objects.filter(
        ~Exists(newer), pk=delivery.pk, status=DeliveryStatus.PENDING, attempts=attempt.number
    ).update(next_attempt_at=next_attempt_at, **ended)
    if not held:
        log.warning(
            "Delivery %s: attempt %s ended %s after its lease was lost; the delivery is unchanged.",
            delivery.pk,
            attempt.number,
            outcome,
        )
    # An update, not save(): a delivery deleted with its execution meanwhile is no error here.
    DeliveryAttempt.objects.filter(pk=attempt.pk).update(
        duration_ms=attempt.duration_ms,
        outcome=outcome,
        response_status=response_status,
        error=error,
    )


def delivery_message(delivery: Delivery) -> DeliveryMessage:
    execution = delivery.execution
    time_zone = (
        execution.schedule.time_zone if execution.schedule else execution.organization.time_zone
    )
    return DeliveryMessage(
        delivery_id=str(delivery.delivery_id),
        execution_id=execution.pk,
        organization_id=str(execution.organization_id),
        organization_name=execution.organization.name,
        template_name=execution.template.name,
        template_slug=execution.template.slug,
        parameters=execution.parameters,
        status=execution.status,
        row_count=execution.row_count,
        generated_at=execution.finished_at or timezone.now(),
        time_zone=time_zone,
        slot_date=execution.slot_at.astimezone(ZoneInfo(time_zone)).date()
        if execution.slot_at
        else None,
        files=[_delivered_file(output) for output in execution.outputs.filter(expired_at=None)],
    )


def _delivered_file(output: ReportOutput) -> DeliveredFile:
    return DeliveredFile(
        format=output.format,
        filename=output.filename,
        content_type=output.content_type,
        size=output.size,
        sha256=output.sha256,
        open=lambda: report_storage().open(output.file.name, "rb"),
        download_url=output_link(output),
    )
