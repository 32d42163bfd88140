from django.db import models

from accounts.models import Organization


class AnalyticsSnapshot(models.Model):
    """One metric of one organisation on one local day (Zulip-style fixed daily bucket).

    `value` is a number (events, logins); an object of counts by key (events_by_type,
    events_by_category, events_by_hour with hours "0".."23"); the sorted list of the day's
    distinct user ids (active_user_ids: unions of them give exact distinct users per week,
    month or range without reading the events); or, for the fact tables, an object by
    equipment_id (equipment), by item_id (inventory) or of sums (revenue), with money as
    decimal strings. See `analytics.rollups` for each shape.
    """

    class Metric(models.TextChoices):
        EVENTS = "events"
        ACTIVE_USER_IDS = "active_user_ids"
        LOGINS = "logins"
        EVENTS_BY_TYPE = "events_by_type"
        EVENTS_BY_CATEGORY = "events_by_category"
        EVENTS_BY_HOUR = "events_by_hour"
        EQUIPMENT = "equipment"
        INVENTORY = "inventory"
        REVENUE = "revenue"

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="analytics_snapshots"
    )
    date = models.DateField(help_text="The day in the organisation's time zone")
    metric = models.CharField(max_length=32, choices=Metric.choices)
    value = models.JSONField()
    computed_at = models.DateTimeField()

    class Meta:
        ordering = ["-date", "metric"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "date", "metric"], name="analytics_snapshot_unique_day"
            )
        ]

    def __str__(self) -> str:
        return f"{self.metric} on {self.date}"


class AnalyticsDirtyDay(models.Model):
    """A local day that received data since its snapshots were last computed."""

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="analytics_dirty_days"
    )
    date = models.DateField()
    # A refresh clears a mark only if it is unchanged since the refresh read it, so data that
    # arrives during a refresh keeps its day dirty.
    marked_at = models.DateTimeField()

    class Meta:
        ordering = ["date"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "date"], name="analytics_dirty_day_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.organization_id} {self.date}"
