"""The reporting back office: the same services as the API, behind Django admin screens."""

from datetime import time
from zoneinfo import ZoneInfo

from django import forms
from django.contrib import admin, messages
from django.db.models import OuterRef, Subquery
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from accounts.admin_scoping import TenantScopedAdmin, TenantScopedInline
from accounts.models import Role
from config.errors import ApplicationError
from reporting.admin_executions import download_links
from reporting.connections import connection_grant_save, connection_grant_validate
from reporting.forms import (
    CRON_HELP,
    SCHEDULE_FORM_FIELDS,
    SCHEDULE_PRESET_CHOICES,
    PrettyJSONField,
    RunReportForm,
    catch_up_help,
    preset_time,
    pretty_json_widget,
    slot_label,
)
from reporting.models import (
    CatchUp,
    ConnectionGrant,
    DataSource,
    ReportAccessLog,
    ReportExecution,
    ReportOutput,
    ReportSchedule,
    ReportTemplate,
    ReportUsageMetric,
    TemplateDataSource,
    Trigger,
)
from reporting.services import executions as execution_services
from reporting.services import schedules as schedule_services
from reporting.services import templates as template_services
from reporting.services.access_log import ClientInfo
from reporting.slots import cron_describe


def _apply_errors(form: forms.ModelForm, error: ApplicationError) -> None:
    """An ApplicationError's fields onto the form, the rest as a form-wide error."""
    for field, reasons in (error.errors or {"__all__": [error.message]}).items():
        reasons = reasons if isinstance(reasons, list) else [str(reasons)]
        form.add_error(field if field in form.fields else None, [str(r) for r in reasons])


class DataSourceForm(forms.ModelForm):
    config = PrettyJSONField(required=False, initial=dict, widget=pretty_json_widget())

    class Meta:
        model = DataSource
        fields = [
            "organization", "name", "description", "source_type", "query", "config", "file",
        ]  # fmt: skip

    def clean(self):
        cleaned = super().clean()
        if not self.errors:
            source = self.instance
            upload = cleaned.pop("file", None) if "file" in self.changed_data else None
            for name, value in cleaned.items():
                if name != "file":
                    setattr(source, name, value)
            source.config = source.config or {}
            if upload:
                template_services.data_source_attach_upload(source, upload)
                cleaned["file"], cleaned["config"] = source.file.name, source.config
            try:
                template_services.data_source_validate(source)
            except ApplicationError as error:
                _apply_errors(self, error)
        return cleaned


@admin.register(DataSource)
class DataSourceAdmin(TenantScopedAdmin):
    form = DataSourceForm
    list_display = ["name", "organization", "source_type", "updated_at"]
    list_filter = ["source_type", "organization"]
    search_fields = ["name", "description", "query"]
    actions = ["test_connection"]

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    @admin.action(description="Test connection")
    def test_connection(self, request, queryset):
        for source in queryset:
            ok, message = template_services.data_source_test(
                data_source=source, user=request.user, client=ClientInfo.from_request(request)
            )
            self.message_user(
                request, f"{source.name}: {message}", messages.SUCCESS if ok else messages.ERROR
            )

    def get_urls(self):
        preview = self.admin_site.admin_view(self.preview_view)
        return [
            path("<int:pk>/preview/", preview, name="reporting_datasource_preview"),
            *super().get_urls(),
        ]

    def preview_view(self, request, pk: int):
        source = get_object_or_404(self.get_queryset(request), pk=pk)
        form = PreviewForm(request.POST or None)
        preview = None
        if request.method == "POST" and form.is_valid():
            try:
                preview = template_services.data_source_preview(
                    data_source=source,
                    parameters=form.cleaned_data["parameters"] or {},
                    user=request.user,
                    client=ClientInfo.from_request(request),
                )
            except ApplicationError as error:
                form.add_error(None, f"{error.message} {error.errors.get('parameters', '')}")
        context = {
            **self.admin_site.each_context(request),
            "title": f"Preview of {source.name}",
            "opts": self.model._meta,
            "original": source,
            "form": form,
            "preview": preview,
        }
        return TemplateResponse(request, "admin/reporting/preview.html", context)


class PreviewForm(forms.Form):
    parameters = PrettyJSONField(
        required=False,
        initial=dict,
        widget=pretty_json_widget(4),
        help_text="A JSON object with a value for each parameter the query uses.",
    )


class TemplateDataSourceInline(TenantScopedInline, admin.TabularInline):
    model = TemplateDataSource
    extra = 1
    fields = ["position", "data_source"]
    ordering = ["position"]


class ReportTemplateForm(forms.ModelForm):
    output_formats = PrettyJSONField(widget=pretty_json_widget(2))
    parameters_schema = PrettyJSONField(widget=pretty_json_widget(12))
    charts = PrettyJSONField(required=False, initial=list, widget=pretty_json_widget(6))
    # Left out of a post, the template keeps its role (a new one: the model's default).
    run_role = forms.ChoiceField(
        choices=Role.choices,
        required=False,
        help_text=ReportTemplate._meta.get_field("run_role").help_text,
    )

    class Meta:
        model = ReportTemplate
        fields = [
            "organization",
            "name",
            "slug",
            "description",
            "report_type",
            "output_formats",
            "parameters_schema",
            "layout_name",
            "layout",
            "charts",
            "is_public",
            "run_role",
            "csv_formula_escaping",
        ]

    def clean(self):
        cleaned = super().clean()
        if not self.errors:
            template = self.instance
            cleaned["run_role"] = cleaned.get("run_role") or template.run_role
            for name, value in cleaned.items():
                setattr(template, name, value)
            template.charts = template.charts or []
            try:
                sources = template_services.template_data_sources(template)
                template_services.template_validate(template, sources)
            except ApplicationError as error:
                _apply_errors(self, error)
        return cleaned


@admin.register(ReportTemplate)
class ReportTemplateAdmin(TenantScopedAdmin):
    form = ReportTemplateForm
    inlines = [TemplateDataSourceInline]
    list_display = [
        "name", "organization", "report_type", "is_public", "run_role", "updated_at", "run_link",
    ]  # fmt: skip
    list_filter = ["report_type", "is_public", "run_role", "organization"]
    search_fields = ["name", "slug", "description"]
    prepopulated_fields = {"slug": ["name"]}

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    @admin.display(description="Run")
    def run_link(self, template):
        url = reverse("admin:reporting_reporttemplate_run", args=[template.pk])
        return format_html('<a class="button" href="{}">Run now</a>', url)

    def get_urls(self):
        run = self.admin_site.admin_view(self.run_view)
        return [
            path("<int:pk>/run/", run, name="reporting_reporttemplate_run"),
            *super().get_urls(),
        ]

    def run_view(self, request, pk: int):
        template = get_object_or_404(self.get_queryset(request), pk=pk)
        form = RunReportForm(request.POST or None, template=template)
        if request.method == "POST" and form.is_valid():
            try:
                execution = execution_services.execution_request(
                    template=template,
                    parameters=form.parameters(),
                    output_formats=form.cleaned_data["output_formats"],
                    delivery_targets=list(form.cleaned_data["delivery_targets"]),
                    requested_by=request.user,
                    trigger=Trigger.ADMIN,
                    client=ClientInfo.from_request(request),
                )
            except ApplicationError as error:
                # A parameter's reasons go on its own field, as the form's clean puts them.
                errors = {**error.errors, **error.errors.get("parameters", {})}
                errors.pop("parameters", None)
                _apply_errors(form, ApplicationError(error.message, errors=errors))
            else:
                self.message_user(request, f"Execution {execution.pk} queued.", messages.SUCCESS)
                return redirect("admin:reporting_reportexecution_change", execution.pk)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Run {template.name}",
            "opts": self.model._meta,
            "original": template,
            "form": form,
        }
        return TemplateResponse(request, "admin/reporting/run.html", context)


@admin.register(ReportOutput)
class ReportOutputAdmin(TenantScopedAdmin):
    list_display = ["filename", "format", "size", "created_at", "expires_at", "download"]
    list_filter = ["format"]
    search_fields = ["filename", "sha256"]
    readonly_fields = [f.name for f in ReportOutput._meta.fields]
    list_select_related = ["execution__organization"]

    def has_add_permission(self, request):
        return False

    @admin.display(description="Download")
    def download(self, output):
        return download_links([output])


@admin.register(ReportAccessLog)
class ReportAccessLogAdmin(TenantScopedAdmin):
    list_display = ["created_at", "organization", "user", "action", "object_repr", "ip_address"]
    list_filter = ["action", "organization"]
    search_fields = ["object_repr", "user__username", "ip_address"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReportScheduleForm(forms.ModelForm):
    preset = forms.ChoiceField(
        choices=SCHEDULE_PRESET_CHOICES,
        required=False,
        help_text="A preset fills the cron expression in; leave it blank to write your own.",
    )
    at = forms.TimeField(
        label="At",
        required=False,
        initial=time(6, 0),
        widget=forms.TimeInput(format="%H:%M"),
        help_text="The preset's time of day (HH:MM) in the schedule's time zone.",
    )
    cron = forms.CharField(required=False, help_text=CRON_HELP)
    catch_up = forms.ChoiceField(
        choices=CatchUp.choices, widget=forms.RadioSelect, help_text=catch_up_help
    )
    parameters = PrettyJSONField(required=False, initial=dict, widget=pretty_json_widget(6))
    output_formats = PrettyJSONField(required=False, initial=list, widget=pretty_json_widget(2))

    class Meta:
        model = ReportSchedule
        fields = [
            "organization", "name", "template", "preset", "at", "cron", "time_zone",
            "parameters", "output_formats", "delivery_targets", "catch_up", "enabled",
            "start_date", "end_date", "owner",
        ]  # fmt: skip

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        schedule = self.instance
        if schedule.pk and schedule.preset:
            self.fields["at"].initial = preset_time(schedule.cron)
        if schedule.organization_id and "delivery_targets" in self.fields:
            # Only the schedule's own organisation's targets are offered.
            field = self.fields["delivery_targets"]
            field.queryset = field.queryset.filter(organization_id=schedule.organization_id)

    def clean(self):
        cleaned = super().clean()
        if not self.errors:
            if not cleaned.get("preset") and not cleaned.get("cron"):
                self.add_error("cron", "Choose a preset or write a cron expression.")
                return cleaned
            schedule = self.instance
            for name in SCHEDULE_FORM_FIELDS:
                setattr(schedule, name, cleaned.get(name))
            schedule.parameters = schedule.parameters or {}
            schedule.output_formats = schedule.output_formats or []
            try:
                schedule_services.schedule_validate(schedule, cleaned.get("at"))
                schedule_services.schedule_targets_validate(
                    schedule, list(cleaned.get("delivery_targets") or [])
                )
            except ApplicationError as error:
                _apply_errors(self, error)
        return cleaned


@admin.register(ReportSchedule)
class ReportScheduleAdmin(TenantScopedAdmin):
    form = ReportScheduleForm
    list_display = [
        "name", "organization", "template", "cron", "time_zone", "enabled", "next_run",
        "last_result",
    ]  # fmt: skip
    list_filter = ["enabled", "catch_up", "organization"]
    search_fields = ["name", "template__name"]
    fields = [
        "organization", "name", "template", "preset", "at", "cron", "time_zone", "description",
        "upcoming", "parameters", "output_formats", "delivery_targets", "catch_up", "enabled",
        "start_date", "end_date", "owner", "last_slot",
    ]  # fmt: skip
    filter_horizontal = ["delivery_targets"]
    readonly_fields = ["description", "upcoming", "last_slot"]
    actions = ["run_now"]

    def save_model(self, request, obj, form, change):
        schedule_services.schedule_save(
            schedule=obj,
            at=form.cleaned_data.get("at"),
            delivery_targets=form.cleaned_data.get("delivery_targets") or [],
        )

    def save_related(self, request, form, formsets, change):
        # The targets were stored by schedule_save; the form must not write them again.
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    def delete_model(self, request, obj):
        schedule_services.schedule_delete(schedule=obj)

    @admin.display(description="In words")
    def description(self, schedule):
        return cron_describe(schedule.cron) if schedule.cron else ""

    @admin.display(description="Next five runs")
    def upcoming(self, schedule):
        if not schedule.pk:
            return ""
        zone = ZoneInfo(schedule.time_zone)
        slots = [slot.astimezone(zone) for slot in schedule_services.schedule_upcoming(schedule)]
        if not slots:
            return "None: the schedule has ended."
        return format_html(
            "{}<ul>{}</ul>",
            f"In {schedule.time_zone}:",
            format_html_join("", "<li>{}</li>", ((slot_label(slot),) for slot in slots)),
        )

    @admin.display(description="Last slot")
    def last_slot(self, schedule):
        if not schedule.last_slot_at:
            return "—"
        return slot_label(schedule.last_slot_at.astimezone(ZoneInfo(schedule.time_zone)))

    @admin.display(description="Next run", ordering="next_run_at")
    def next_run(self, schedule):
        if not schedule.next_run_at:
            return "—"
        return slot_label(schedule.next_run_at.astimezone(ZoneInfo(schedule.time_zone)))

    def get_queryset(self, request):
        # The latest execution per schedule in the same query, not one query per row.
        latest = ReportExecution.objects.filter(schedule=OuterRef("pk")).order_by("-queued_at")
        return (
            super()
            .get_queryset(request)
            .select_related("organization", "template")
            .annotate(
                last_status=Subquery(latest.values("status")[:1]),
                last_queued_at=Subquery(latest.values("queued_at")[:1]),
            )
        )

    @admin.display(description="Last result")
    def last_result(self, schedule):
        if not schedule.last_status:
            return "—"
        return f"{schedule.last_status} ({schedule.last_queued_at:%Y-%m-%d %H:%M})"

    @admin.action(description="Run the selected schedules now")
    def run_now(self, request, queryset):
        for schedule in queryset:
            execution = schedule_services.schedule_run_now(
                schedule=schedule, user=request.user, client=ClientInfo.from_request(request)
            )
            self.message_user(request, f"{schedule.name}: execution {execution.pk} queued.")


@admin.register(ReportUsageMetric)
class ReportUsageMetricAdmin(TenantScopedAdmin):
    list_display = [
        "date", "template", "organization", "runs", "failures", "mean_duration_seconds",
        "p95_duration_seconds", "rows", "downloads", "distinct_users",
    ]  # fmt: skip
    list_filter = ["organization", "template"]
    date_hierarchy = "date"
    readonly_fields = [f.name for f in ReportUsageMetric._meta.fields]

    def has_add_permission(self, request):
        return False


class ConnectionGrantForm(forms.ModelForm):
    class Meta:
        model = ConnectionGrant
        fields = ["organization", "kind", "name"]

    def clean(self):
        cleaned = super().clean()
        if "kind" in cleaned and "name" in cleaned:
            try:
                connection_grant_validate(kind=cleaned["kind"], name=cleaned["name"])
            except ApplicationError as error:
                _apply_errors(self, error)
        return cleaned


def _superuser(request) -> bool:
    return request.user.is_active and request.user.is_superuser


@admin.register(ConnectionGrant)
class ConnectionGrantAdmin(admin.ModelAdmin):
    """Which organisations may use which named connection: superusers only, since a connection
    reaches data outside any one organisation."""

    form = ConnectionGrantForm
    list_display = ["organization", "kind", "name", "granted_by", "created_at"]
    list_filter = ["kind", "organization"]
    search_fields = ["name", "organization__name", "organization__slug"]

    def has_module_permission(self, request):
        return _superuser(request)

    def has_view_permission(self, request, obj=None):
        return _superuser(request)

    def has_add_permission(self, request):
        return _superuser(request)

    def has_change_permission(self, request, obj=None):
        return _superuser(request)

    def has_delete_permission(self, request, obj=None):
        return _superuser(request)

    def save_model(self, request, obj, form, change):
        connection_grant_save(grant=obj, granted_by=request.user)
