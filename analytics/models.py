import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from accounts.models import Organization


class AnalyticsSnapshot(models.Model):
    """One metric of one organisation on one local day (Zulip-style fixed daily bucket).

    `value` is a number (events, logins); an object of counts by key (events_by_type,
    events_by_category, events_by_hour with hours "0".."23"); the day's distinct users as a
    bitmap of their `AnalyticsUser` numbers in hex (active_users: OR-ing days gives exact
    distinct users per week, month or range without reading the events); or, for the fact
    tables, an object by equipment_id (equipment), by item_id (inventory) or of sums
    (revenue), with money as decimal strings. See `analytics.rollups` for each shape.
    """

    class Metric(models.TextChoices):
        EVENTS = "events"
        ACTIVE_USERS = "active_users"
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


class AnalyticsUser(models.Model):
    """A user id of an organisation's events and the small number that stands for it in the
    daily active-user bitmaps; numbered by the snapshot refresh in order of first sight."""

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="analytics_users"
    )
    user_id = models.CharField(max_length=128)
    number = models.PositiveIntegerField()

    class Meta:
        ordering = ["number"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "user_id"], name="analytics_user_unique_id"
            ),
            models.UniqueConstraint(
                fields=["organization", "number"], name="analytics_user_unique_number"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} (#{self.number})"


class AnalyticsDailyCount(models.Model):
    """A live counter of one organisation's local day, kept by the ingestion in its own
    transaction (`analytics.counters`): events and logins (key ""), and events by type, by
    category and by local hour ("0".."23"). A counter is a sum, so a batch adds to it."""

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="analytics_daily_counts"
    )
    date = models.DateField(help_text="The day in the organisation's time zone")
    metric = models.CharField(max_length=32)
    key = models.CharField(max_length=64, blank=True)
    count = models.BigIntegerField(default=0)

    class Meta:
        ordering = ["date", "metric", "key"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "date", "metric", "key"],
                name="analytics_daily_count_unique",
            )
        ]

    def __str__(self) -> str:
        return f"{self.metric}[{self.key}] on {self.date}: {self.count}"


class AnalyticsDailyUser(models.Model):
    """A user seen on one local day of an organisation: distinct users are a set, not a sum, so
    the ingestion adds its batch's pairs and a pair already there stays once."""

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="analytics_daily_users"
    )
    date = models.DateField()
    user_id = models.CharField(max_length=128)

    class Meta:
        ordering = ["date", "user_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "date", "user_id"], name="analytics_daily_user_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user_id} on {self.date}"


class AnalyticsPendingCount(models.Model):
    """One stored batch's additions to the live counters and day-user sets, not yet folded into
    them. The ingestion appends one such row a batch (no lock on a counter another batch
    shares); `analytics.fold_live_counters` adds them to the counters a moment later, and
    readers count the rows not yet folded (`analytics.counters`)."""

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="analytics_pending_counts"
    )
    first_day = models.DateField()
    last_day = models.DateField()
    counts = models.JSONField(help_text='[["YYYY-MM-DD", metric, key, count], …]')
    users = models.JSONField(help_text='[["YYYY-MM-DD", user_id], …]')

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return f"Pending counts of {self.first_day}..{self.last_day}"


class AnalyticsDirtyDay(models.Model):
    """A local day that received data since its snapshots were last computed."""

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="analytics_dirty_days"
    )
    date = models.DateField()
    # A refresh clears a mark only if it is unchanged since the refresh read it, so data that
    # arrives during a refresh keeps its day dirty.
    marked_at = models.DateTimeField()
    # The day's live counters may be off (rows written behind the ingestion's back): the
    # refresh recounts them from the raw rows, today's too.
    recount = models.BooleanField(default=False, db_default=False)

    class Meta:
        ordering = ["date"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "date"], name="analytics_dirty_day_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.organization_id} {self.date}"


class AnalyticsReportRequest(models.Model):
    """A person's request for a built-in analytics report: which one, in which format, for
    which days; the report itself is the ReportExecution it started (status, file, error)."""

    class ReportType(models.TextChoices):
        USAGE = "usage"
        INVENTORY = "inventory"
        EQUIPMENT = "equipment"
        REVENUE = "revenue"

    class Format(models.TextChoices):
        CSV = "csv"
        XLSX = "xlsx"
        PDF = "pdf"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="analytics_report_requests"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.SET_NULL,
        related_name="analytics_report_requests",
    )
    report_type = models.CharField(max_length=16, choices=ReportType.choices)
    format = models.CharField(max_length=8, choices=Format.choices)
    filters = models.JSONField(default=dict, help_text="start_date and end_date, as run")
    execution = models.OneToOneField(
        "reporting.ReportExecution", on_delete=models.CASCADE, related_name="analytics_request"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(
                fields=["organization", "requested_by", "-created_at"],
                name="analytics_report_request_own",
            )
        ]

    def __str__(self) -> str:
        return f"{self.report_type} report ({self.format}) {self.filters}"
