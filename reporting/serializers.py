from zoneinfo import ZoneInfo

from django.urls import reverse
from rest_framework import serializers

from delivery.models import DeliveryTarget
from reporting.models import (
    OUTPUT_FORMATS,
    CatchUp,
    DataSource,
    ReportAccessLog,
    ReportExecution,
    ReportOutput,
    ReportSchedule,
    ReportTemplate,
    ReportUsageMetric,
    SchedulePreset,
    SourceType,
)


class DataSourceSerializer(serializers.ModelSerializer):
    class Meta:
        model = DataSource
        fields = [
            "id",
            "name",
            "description",
            "source_type",
            "query",
            "config",
            "file",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["file", "created_at", "updated_at"]


class DataSourceWriteSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True)
    source_type = serializers.ChoiceField(choices=SourceType.choices)
    query = serializers.CharField(required=False, allow_blank=True, default="")
    config = serializers.JSONField(required=False, default=dict)
    file = serializers.FileField(
        required=False, help_text="For file sources: a CSV, XLSX, JSON or NDJSON file (multipart)"
    )


class ParametersSerializer(serializers.Serializer):
    parameters = serializers.JSONField(required=False, default=dict)


class TestResultSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    message = serializers.CharField()


class ConnectionsSerializer(serializers.Serializer):
    database = serializers.ListField(
        child=serializers.CharField(), help_text="Database aliases for `database` sources"
    )
    redis = serializers.ListField(
        child=serializers.CharField(), help_text="Connections for `redis` sources"
    )
    elasticsearch = serializers.ListField(
        child=serializers.CharField(), help_text="Clusters for `elasticsearch` sources"
    )


class PreviewSerializer(serializers.Serializer):
    columns = serializers.ListField(child=serializers.DictField())
    rows = serializers.ListField(child=serializers.ListField())


class ReportTemplateSerializer(serializers.ModelSerializer):
    data_source_ids = serializers.SerializerMethodField()

    class Meta:
        model = ReportTemplate
        fields = [
            "id",
            "name",
            "slug",
            "description",
            "report_type",
            "output_formats",
            "parameters_schema",
            "data_source_ids",
            "layout_name",
            "layout",
            "charts",
            "is_public",
            "run_role",
            "csv_formula_escaping",
            "created_by",
            "created_at",
            "updated_at",
        ]

    def get_data_source_ids(self, template: ReportTemplate) -> list[int]:
        return [link.data_source_id for link in template.sources.all()]


class ReportTemplateWriteSerializer(serializers.Serializer):
    """The seed's body (name, description, report_type, output_formats, parameters_schema,
    data_source_ids, is_public) plus slug, layout_name, layout and charts."""

    name = serializers.CharField(max_length=200)
    slug = serializers.SlugField(max_length=100, required=False, allow_blank=True)
    description = serializers.CharField(required=False, allow_blank=True)
    report_type = serializers.ChoiceField(
        choices=ReportTemplate._meta.get_field("report_type").choices, required=False
    )
    output_formats = serializers.ListField(child=serializers.CharField(), allow_empty=False)
    parameters_schema = serializers.JSONField(required=False)
    data_source_ids = serializers.PrimaryKeyRelatedField(
        many=True, queryset=DataSource.objects.none(), required=False
    )
    layout_name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    layout = serializers.CharField(required=False, allow_blank=True)
    charts = serializers.JSONField(required=False)
    is_public = serializers.BooleanField(required=False)
    run_role = serializers.ChoiceField(
        choices=ReportTemplate._meta.get_field("run_role").choices,
        required=False,
        help_text="The least role that may see and run it (default viewer)",
    )
    csv_formula_escaping = serializers.BooleanField(
        required=False,
        help_text=ReportTemplate._meta.get_field("csv_formula_escaping").help_text + " Default on.",
    )

    def __init__(self, *args, data_sources=None, **kwargs):
        super().__init__(*args, **kwargs)
        if data_sources is not None:
            self.fields["data_source_ids"].child_relation.queryset = data_sources


class ReportOutputSerializer(serializers.ModelSerializer):
    download_url = serializers.SerializerMethodField()

    class Meta:
        model = ReportOutput
        fields = [
            "id",
            "format",
            "filename",
            "size",
            "sha256",
            "content_type",
            "created_at",
            "expires_at",
            "expired_at",
            "download_url",
        ]

    def get_download_url(self, output: ReportOutput) -> str | None:
        if output.expired_at:
            return None
        path = reverse("report-output-download", args=[output.pk])
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path


class ReportExecutionSerializer(serializers.ModelSerializer):
    template_id = serializers.IntegerField(read_only=True)
    template_name = serializers.CharField(source="template.name", read_only=True)
    requested_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    outputs = ReportOutputSerializer(many=True, read_only=True)
    duration_seconds = serializers.FloatField(read_only=True, allow_null=True)

    class Meta:
        model = ReportExecution
        fields = [
            "id",
            "template_id",
            "template_name",
            "status",
            "trigger",
            "parameters",
            "output_formats",
            "requested_by",
            "retry_of",
            "queued_at",
            "started_at",
            "finished_at",
            "duration_seconds",
            "row_count",
            "progress",
            "error",
            "attempts",
            "outputs",
        ]


class OrganizationChoicesSerializer(serializers.Serializer):
    """A template and delivery targets chosen among the request organisation's own."""

    template_id = serializers.PrimaryKeyRelatedField(queryset=ReportTemplate.objects.none())
    delivery_target_ids = serializers.PrimaryKeyRelatedField(
        many=True,
        queryset=DeliveryTarget.objects.none(),
        required=False,
        help_text="Where to deliver the outputs.",
    )

    def __init__(self, *args, templates=None, targets=None, **kwargs):
        super().__init__(*args, **kwargs)
        if templates is not None:
            self.fields["template_id"].queryset = templates
        if targets is not None:
            self.fields["delivery_target_ids"].child_relation.queryset = targets


class ReportExecutionRequestSerializer(OrganizationChoicesSerializer):
    parameters = serializers.JSONField(required=False, default=dict)
    output_formats = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        allow_empty=False,
        help_text=f"Override the template's formats: any of {', '.join(OUTPUT_FORMATS)}.",
    )


class ReportAccessLogSerializer(serializers.ModelSerializer):
    user = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

    class Meta:
        model = ReportAccessLog
        fields = [
            "id",
            "created_at",
            "user",
            "action",
            "template",
            "execution",
            "output",
            "object_repr",
            "ip_address",
            "user_agent",
        ]


class ReportScheduleSerializer(serializers.ModelSerializer):
    template_id = serializers.IntegerField(read_only=True)
    delivery_target_ids = serializers.PrimaryKeyRelatedField(
        source="delivery_targets", many=True, read_only=True
    )
    timezone = serializers.CharField(source="time_zone", read_only=True)
    owner = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    next_runs = serializers.SerializerMethodField()

    class Meta:
        model = ReportSchedule
        fields = [
            "id", "name", "template_id", "cron", "preset", "timezone", "parameters",
            "output_formats", "catch_up", "enabled", "start_date", "end_date", "owner",
            "delivery_target_ids",
            "last_slot_at", "next_run_at", "next_runs", "created_at", "updated_at",
        ]  # fmt: skip

    def get_next_runs(self, schedule: ReportSchedule) -> list[str]:
        """The next five slots as the schedule's own clock shows them, with its UTC offset."""
        from reporting.services.schedules import schedule_upcoming

        zone = ZoneInfo(schedule.time_zone)
        return [slot.astimezone(zone).isoformat() for slot in schedule_upcoming(schedule)]


class ReportScheduleWriteSerializer(OrganizationChoicesSerializer):
    """`cron` (five fields), or `preset` (daily, weekly, monthly) with `time` (HH:MM)."""

    name = serializers.CharField(max_length=200)
    cron = serializers.CharField(max_length=120, required=False, allow_blank=True)
    preset = serializers.ChoiceField(
        choices=SchedulePreset.choices, required=False, allow_blank=True
    )
    time = serializers.TimeField(required=False)
    timezone = serializers.CharField(max_length=64, required=False, source="time_zone")
    parameters = serializers.JSONField(required=False)
    output_formats = serializers.ListField(child=serializers.CharField(), required=False)
    catch_up = serializers.ChoiceField(choices=CatchUp.choices, required=False)
    enabled = serializers.BooleanField(required=False)
    start_date = serializers.DateField(required=False, allow_null=True)
    end_date = serializers.DateField(required=False, allow_null=True)

    def validate(self, data):
        if not self.partial and not data.get("cron") and not data.get("preset"):
            raise serializers.ValidationError({"cron": ["Give a cron expression or a preset."]})
        return data


class ReportUsageMetricSerializer(serializers.ModelSerializer):
    template_name = serializers.CharField(source="template.name", read_only=True)

    class Meta:
        model = ReportUsageMetric
        fields = [
            "date", "template", "template_name", "runs", "failures", "mean_duration_seconds",
            "p95_duration_seconds", "rows", "downloads", "distinct_users", "computed_at",
        ]  # fmt: skip
