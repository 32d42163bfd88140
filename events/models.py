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


class EquipmentUsageLog(models.Model):
    """One session on a machine: who used it, how long, what it consumed and earned."""

    class Status(models.TextChoices):
        COMPLETED = "completed"
        IN_PROGRESS = "in_progress"
        CANCELLED = "cancelled"
        FAILED = "failed"

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="equipment_usage_logs"
    )
    equipment_id = models.CharField(max_length=128)
    equipment_name = models.CharField(max_length=200, blank=True)
    equipment_type = models.CharField(max_length=64, blank=True)
    user_id = models.CharField(max_length=128)
    project_id = models.CharField(max_length=128, blank=True)
    usage_type = models.CharField(
        max_length=64, blank=True, help_text="session, training, maintenance, …"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.COMPLETED)
    start_time = models.DateTimeField()
    end_time = models.DateTimeField(null=True, blank=True)
    duration_minutes = models.PositiveIntegerField()
    materials_used = models.JSONField(default=dict, blank=True)
    cost = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    revenue = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    # NULL, not "": sessions without a client id must not collide in the unique constraint.
    session_id = models.CharField(  # noqa: DJ001
        max_length=128, null=True, blank=True, help_text="The client's id: sent twice, stored once"
    )
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-start_time", "-id"]
        indexes = [
            models.Index(fields=["organization", "start_time"], name="idx_equipment_usage_time"),
            # Name from the analytics product description.
            models.Index(
                fields=["organization", "equipment_id", "start_time"],
                name="idx_equipment_usage_equipment_timestamp",
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "session_id"],
                condition=Q(session_id__isnull=False),
                name="equipment_session_unique_in_organization",
            )
        ]

    def __str__(self) -> str:
        return f"{self.equipment_id} by {self.user_id} at {self.start_time:%Y-%m-%d %H:%M}"


class InventoryAnalytics(models.Model):
    """One item's consumption on one day: sent again for the same day, it is counted once."""

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="inventory_analytics"
    )
    item_id = models.CharField(max_length=128)
    item_name = models.CharField(max_length=200, blank=True)
    category = models.CharField(max_length=64, blank=True)
    date = models.DateField(help_text="The day in the organisation's time zone")
    quantity_consumed = models.FloatField()
    cost_consumed = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    efficiency_score = models.FloatField(null=True, blank=True)
    waste_percentage = models.FloatField(null=True, blank=True)
    reorder_triggered = models.BooleanField(default=False)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-date", "-id"]
        verbose_name_plural = "inventory analytics"
        indexes = [
            # Name from the analytics product description.
            models.Index(
                fields=["organization", "date"], name="idx_inventory_analytics_makerspace_date"
            ),
            models.Index(
                fields=["organization", "category", "date"], name="idx_inventory_category"
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "item_id", "date"], name="inventory_item_day_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.item_id} on {self.date}"


class ProjectAnalytics(models.Model):
    """A project's state and bill of materials: sent again, it replaces the stored one."""

    class Status(models.TextChoices):
        PLANNING = "planning"
        ACTIVE = "active"
        ON_HOLD = "on_hold"
        COMPLETED = "completed"
        CANCELLED = "cancelled"

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="project_analytics"
    )
    project_id = models.CharField(max_length=128)
    name = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    start_date = models.DateField()
    end_date = models.DateField(null=True, blank=True)
    bom_cost = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    bom_item_count = models.PositiveIntegerField(default=0)
    bom_items = models.JSONField(default=list, blank=True)
    received_at = models.DateTimeField(auto_now=True, help_text="When it was last sent")

    class Meta:
        ordering = ["-start_date", "-id"]
        verbose_name_plural = "project analytics"
        indexes = [
            models.Index(fields=["organization", "start_date"], name="idx_project_analytics_start"),
            models.Index(fields=["organization", "status"], name="idx_project_analytics_status"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "project_id"], name="project_unique_in_organization"
            )
        ]

    def __str__(self) -> str:
        return self.name or self.project_id


class RevenueAnalytics(models.Model):
    """One payment: a transaction_id sent twice is counted once."""

    class Source(models.TextChoices):
        MEMBERSHIP = "membership"
        EQUIPMENT_USAGE = "equipment_usage"
        WORKSHOPS = "workshops"
        MATERIALS = "materials"
        OTHER = "other"

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="revenue_analytics"
    )
    transaction_id = models.CharField(max_length=128)
    timestamp = models.DateTimeField()
    revenue_source = models.CharField(max_length=32, choices=Source.choices)
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3, default="EUR")
    payment_method = models.CharField(max_length=32, blank=True)
    customer_id = models.CharField(max_length=128, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-timestamp", "-id"]
        verbose_name_plural = "revenue analytics"
        indexes = [
            # Name from the analytics product description.
            models.Index(
                fields=["organization", "timestamp"], name="idx_revenue_analytics_makerspace_date"
            ),
            models.Index(
                fields=["organization", "revenue_source", "timestamp"], name="idx_revenue_source"
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "transaction_id"], name="revenue_transaction_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.transaction_id}: {self.amount} {self.currency}"
