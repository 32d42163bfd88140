import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from accounts.models import Organization


class DeliveryKind(models.TextChoices):
    EMAIL = "email", "E-mail"
    STORAGE = "storage", "File storage"
    WEBHOOK = "webhook", "Signed webhook"


class DeliveryTarget(models.Model):
    """Where reports go. `config` holds the settings a channel shows; its secrets (a webhook's,
    S3 keys) sit apart in `secrets`, encrypted (config.encryption), and are write-only.
    `delivery.services.target_config` joins the two for the channel."""

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="delivery_targets"
    )
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=20, choices=DeliveryKind.choices)
    config = models.JSONField(default=dict)
    secrets = models.TextField(
        blank=True, default="", editable=False, help_text="Encrypted JSON of the secret settings."
    )
    enabled = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "name"], name="delivery_target_name_unique_in_organization"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    SKIPPED = "skipped"  # never attempted: the execution did not succeed, or ended another way


class Delivery(models.Model):
    """One execution's outputs to one target, with its attempts; never changes the execution."""

    delivery_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    execution = models.ForeignKey(
        "reporting.ReportExecution", on_delete=models.CASCADE, related_name="deliveries"
    )
    target = models.ForeignKey(DeliveryTarget, on_delete=models.CASCADE, related_name="deliveries")
    status = models.CharField(
        max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # The outbox: when its message last went to the broker (None: refused, or never sent).
    enqueued_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "deliveries"
        constraints = [
            models.UniqueConstraint(
                fields=["execution", "target"], name="one_delivery_per_execution_and_target"
            )
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                name="delivery_retry_due",
                condition=Q(status="pending"),
            ),
            # /metrics counts the last hour's deliveries by status from this index alone.
            models.Index(fields=["created_at", "status"], name="delivery_created_status"),
        ]

    def __str__(self) -> str:
        return f"{self.execution_id} → {self.target} ({self.status})"


class AttemptOutcome(models.TextChoices):
    STARTED = "started", "Started"  # in flight, or its worker died on the way
    SENT = "sent", "Sent"
    RETRYING = "retrying", "Failed, will retry"
    FAILED = "failed", "Failed, gave up"


class DeliveryAttempt(models.Model):
    """One attempt at a delivery, written when it is claimed and closed when it ends: a row left
    `started` with no duration is an attempt whose worker died."""

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_history")
    number = models.PositiveIntegerField(
        help_text="1 for the first attempt; from 1 again after a redeliver."
    )
    started_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    outcome = models.CharField(
        max_length=10, choices=AttemptOutcome.choices, default=AttemptOutcome.STARTED
    )
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["id"]  # oldest first: the history reads down

    def __str__(self) -> str:
        return f"{self.delivery_id} #{self.number} ({self.outcome})"
