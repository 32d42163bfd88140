from django.conf import settings
from django.core.files.storage import storages
from django.db import models
from django.db.models import Q
from django.utils import timezone

from accounts.models import Organization, Role

OUTPUT_FORMATS = ("pdf", "csv", "xlsx", "html", "json")


def report_storage():
    return storages["reports"]


class SourceType(models.TextChoices):
    DATABASE = "database", "Database (SQL)"
    DATASET = "dataset", "Built-in dataset"
    REDIS = "redis", "Redis keys"
    API = "api", "HTTP JSON API"
    FILE = "file", "File (CSV, XLSX, JSON, NDJSON)"
    ELASTICSEARCH = "elasticsearch", "Elasticsearch search"


class DataSource(models.Model):
    """Where one table of a report comes from; its credentials live in settings, not here."""

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="data_sources"
    )
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    source_type = models.CharField(max_length=20, choices=SourceType.choices)
    query = models.TextField(blank=True, help_text="SQL with named parameters: %(name)s")
    config = models.JSONField(default=dict, blank=True)
    file = models.FileField(
        upload_to="data-sources/%Y/%m/",
        blank=True,
        max_length=500,
        help_text="For file sources: an uploaded CSV, XLSX, JSON or NDJSON file",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "name"], name="data_source_name_unique_in_organization"
            )
        ]

    def __str__(self) -> str:
        return self.name


class ReportType(models.TextChoices):
    FINANCIAL = "financial"
    USAGE = "usage"
    INVENTORY = "inventory"
    EQUIPMENT = "equipment"
    PROJECTS = "projects"
    REVENUE = "revenue"
    CUSTOMER = "customer"
    CUSTOM = "custom"


def default_parameters_schema() -> dict:
    return {"type": "object", "properties": {}}


class ReportTemplate(models.Model):
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="report_templates"
    )
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=100)
    description = models.TextField(blank=True)
    report_type = models.CharField(
        max_length=20, choices=ReportType.choices, default=ReportType.CUSTOM
    )
    output_formats = models.JSONField(default=list)
    parameters_schema = models.JSONField(default=default_parameters_schema)
    data_sources = models.ManyToManyField(
        DataSource, through="TemplateDataSource", related_name="templates"
    )
    layout_name = models.CharField(
        max_length=200, blank=True, help_text="A layout file in REPORT_TEMPLATE_DIR"
    )
    layout = models.TextField(blank=True, help_text="Or the layout itself (a Django template)")
    charts = models.JSONField(default=list, blank=True)
    is_public = models.BooleanField(default=False)
    # Viewer keeps the rule templates had before the field: analysts and above see every
    # template, viewers the public ones.
    run_role = models.CharField(
        max_length=20,
        choices=Role.choices,
        default=Role.VIEWER,
        help_text="The least role that may see and run this template, its executions and "
        "outputs (a viewer also needs it public).",
    )
    csv_formula_escaping = models.BooleanField(
        default=True,
        help_text="CSV outputs: write text cells that start with = + - @ tab or CR with a "
        "leading ' so spreadsheets show them as text, not run them as formulas. Turn off only "
        "for programs that read the CSV.",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "slug"], name="template_slug_unique_in_organization"
            )
        ]

    def __str__(self) -> str:
        return self.name


class TemplateDataSource(models.Model):
    """A template's data sources, in order: each gives one table of the report."""

    template = models.ForeignKey(ReportTemplate, on_delete=models.CASCADE, related_name="sources")
    data_source = models.ForeignKey(DataSource, on_delete=models.PROTECT, related_name="+")
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return f"{self.position}. {self.data_source}"


class CatchUp(models.TextChoices):
    SKIP = "skip", "Skip missed slots"
    LATEST = "latest", "Run the latest slot once, late if need be"
    ALL = "all", "Run every missed slot (up to REPORT_CATCH_UP_MAX)"


class SchedulePreset(models.TextChoices):
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"


class ReportSchedule(models.Model):
    """When a template runs by itself. The one source of truth: its beat entry is derived."""

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="report_schedules"
    )
    name = models.CharField(max_length=200)
    template = models.ForeignKey(
        "ReportTemplate", on_delete=models.PROTECT, related_name="schedules"
    )
    parameters = models.JSONField(default=dict, blank=True)
    output_formats = models.JSONField(default=list, blank=True)
    cron = models.CharField(max_length=120, help_text="Five fields: minute hour day month weekday")
    preset = models.CharField(max_length=10, choices=SchedulePreset.choices, blank=True)
    time_zone = models.CharField(max_length=64)
    enabled = models.BooleanField(default=True)
    start_date = models.DateField(null=True, blank=True)
    end_date = models.DateField(null=True, blank=True)
    catch_up = models.CharField(max_length=10, choices=CatchUp.choices, default=CatchUp.LATEST)
    delivery_targets = models.ManyToManyField(
        "delivery.DeliveryTarget", blank=True, related_name="schedules"
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_slot_at = models.DateTimeField(null=True, blank=True)
    next_run_at = models.DateTimeField(null=True, blank=True)
    periodic_task = models.OneToOneField(
        "django_celery_beat.PeriodicTask",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="report_schedule",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        indexes = [
            models.Index(fields=["next_run_at"], name="schedule_due", condition=Q(enabled=True))
        ]

    def __str__(self) -> str:
        return self.name


class ExecutionStatus(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


class Trigger(models.TextChoices):
    API = "api"
    ADMIN = "admin"
    SCHEDULE = "schedule"
    CLI = "cli"
    RETRY = "retry"


class ReportExecution(models.Model):
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="report_executions"
    )
    # PROTECT: a template with a history of runs is not deleted under it.
    template = models.ForeignKey(
        ReportTemplate, on_delete=models.PROTECT, related_name="executions"
    )
    parameters = models.JSONField(default=dict)
    output_formats = models.JSONField(default=list)
    status = models.CharField(
        max_length=20, choices=ExecutionStatus.choices, default=ExecutionStatus.QUEUED
    )
    trigger = models.CharField(max_length=20, choices=Trigger.choices, default=Trigger.API)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    retry_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="retries"
    )
    schedule = models.ForeignKey(
        ReportSchedule, null=True, blank=True, on_delete=models.SET_NULL, related_name="executions"
    )
    slot_at = models.DateTimeField(null=True, blank=True, help_text="The schedule slot it ran for")
    queued_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # The outbox: when the message for this execution was last handed to the broker. A queued
    # execution whose message was lost is sent again by the every-minute check.
    enqueued_at = models.DateTimeField(default=timezone.now, null=True, blank=True)
    # The running attempt's lease: only the holder of this token may write the run's end.
    lease_token = models.UUIDField(null=True, blank=True, editable=False)
    lease_owner = models.CharField(max_length=255, blank=True, help_text="host:pid of the worker")
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    row_count = models.BigIntegerField(default=0)
    progress = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    celery_task_id = models.CharField(max_length=255, blank=True)
    search_synced_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-queued_at", "-id"]
        indexes = [
            models.Index(fields=["organization", "-queued_at"], name="execution_org_queued"),
            # The Elasticsearch catch-up reads only finished executions not yet copied.
            models.Index(
                fields=["id"],
                name="execution_search_unsynced",
                condition=Q(search_synced_at=None, status__in=["succeeded", "failed", "cancelled"]),
            ),
            models.Index(
                fields=["lease_expires_at"],
                name="execution_running_lease",
                condition=Q(status="running"),
            ),
            models.Index(
                fields=["enqueued_at"],
                name="execution_queued_enqueued",
                condition=Q(status="queued"),
            ),
            # /metrics counts and reads the executions that ended in the last hour.
            models.Index(fields=["status", "finished_at"], name="execution_status_finished"),
        ]
        constraints = [
            # Exactly one execution per schedule slot, however often beat or a redelivered
            # message fires for it.
            models.UniqueConstraint(
                fields=["schedule", "slot_at"],
                name="one_execution_per_schedule_slot",
                condition=Q(schedule__isnull=False),
            )
        ]

    def __str__(self) -> str:
        return f"{self.template} #{self.pk} ({self.status})"

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None


class ReportOutput(models.Model):
    execution = models.ForeignKey(ReportExecution, on_delete=models.CASCADE, related_name="outputs")
    format = models.CharField(max_length=10)
    file = models.FileField(storage=report_storage, upload_to="%Y/%m/%d", max_length=500)
    filename = models.CharField(max_length=255, help_text="The name a download is given")
    size = models.BigIntegerField(default=0)
    sha256 = models.CharField(max_length=64)
    content_type = models.CharField(max_length=100)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    expired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["execution", "format"]
        indexes = [
            models.Index(
                fields=["expires_at"], name="output_to_expire", condition=Q(expired_at=None)
            )
        ]

    def __str__(self) -> str:
        return self.filename


class AccessAction(models.TextChoices):
    VIEW = "view"
    RUN = "run"
    DOWNLOAD = "download"
    CANCEL = "cancel"
    DELETE = "delete"
    PREVIEW = "preview"  # of a data source
    TEST = "test"  # a data source's connection


class ReportAccessLog(models.Model):
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="report_access_log"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    action = models.CharField(max_length=20, choices=AccessAction.choices)
    template = models.ForeignKey(
        ReportTemplate, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    execution = models.ForeignKey(
        ReportExecution, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    output = models.ForeignKey(
        ReportOutput, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    object_repr = models.CharField(max_length=300, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.user} {self.action} {self.object_repr}"


class ReportUsageMetric(models.Model):
    """One template's use on one day (UTC), computed by generate_report_usage_metrics."""

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="report_usage_metrics"
    )
    template = models.ForeignKey(
        ReportTemplate, on_delete=models.CASCADE, related_name="usage_metrics"
    )
    date = models.DateField()
    runs = models.PositiveIntegerField(default=0)
    failures = models.PositiveIntegerField(default=0)
    mean_duration_seconds = models.FloatField(null=True, blank=True)
    p95_duration_seconds = models.FloatField(null=True, blank=True)
    rows = models.BigIntegerField(default=0)
    downloads = models.PositiveIntegerField(default=0)
    distinct_users = models.PositiveIntegerField(default=0)
    computed_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-date", "template__name"]
        constraints = [
            models.UniqueConstraint(fields=["template", "date"], name="one_usage_metric_per_day")
        ]

    def __str__(self) -> str:
        return f"{self.template} on {self.date}"


class ConnectionKind(models.TextChoices):
    DATABASE = "database", "Database alias"
    REDIS = "redis", "Redis connection"
    ELASTICSEARCH = "elasticsearch", "Elasticsearch cluster"


class ConnectionGrant(models.Model):
    """An organisation may use one named connection that the operator configured.

    Connections (their URLs and credentials) live in the environment; a grant only names one.
    Settings can grant too (see reporting.connections).
    """

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="connection_grants"
    )
    kind = models.CharField(max_length=20, choices=ConnectionKind.choices)
    name = models.CharField(
        max_length=100,
        help_text="As configured: reporting_<name> for a database, the Redis connection or the "
        "Elasticsearch cluster name",
    )
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["organization__name", "kind", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "kind", "name"], name="one_grant_per_connection"
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.name!r} for {self.organization}"
