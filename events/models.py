from django.db import models
from django.db.models import Q
from django.utils import timezone

from accounts.models import Organization


class UsageEvent(models.Model):
    """Something a person did (a login, a reservation, an inventory issue), sent by a client."""

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="usage_events"
    )
    user_id = models.CharField(max_length=128)
    event_type = models.CharField(max_length=64)
    event_category = models.CharField(max_length=64)
    metadata = models.JSONField(default=dict, blank=True)
    timestamp = models.DateTimeField(default=timezone.now)
    received_at = models.DateTimeField(auto_now_add=True)
    # NULL, not "": events without a client id must not collide in the unique constraint.
    event_id = models.CharField(  # noqa: DJ001
        max_length=128, null=True, blank=True, help_text="The client's id: sent twice, stored once"
    )

    class Meta:
        ordering = ["-timestamp", "-id"]
        indexes = [
            # Names from the analytics product description.
            models.Index(
                fields=["organization", "timestamp"], name="idx_usage_events_makerspace_timestamp"
            ),
            models.Index(
                fields=["organization", "event_type", "timestamp"], name="idx_usage_events_type"
            ),
            models.Index(
                fields=["organization", "user_id", "timestamp"], name="idx_usage_events_user"
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "event_id"],
                condition=Q(event_id__isnull=False),
                name="usage_event_id_unique_in_organization",
            )
        ]

    def __str__(self) -> str:
        return f"{self.event_type} by {self.user_id} at {self.timestamp:%Y-%m-%d %H:%M}"
