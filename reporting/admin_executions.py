"""The executions' back office: a list with badges and download links, and a read-only page per
execution made for people (live progress, downloads, the error, Retry and Cancel, deliveries).

The page, its JSON progress endpoint and its actions read the execution through the admin's
tenant-scoped queryset: another organisation's execution is a 404, as everywhere else.
"""

from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from django.contrib import admin, messages
from django.http import Http404, HttpRequest, JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.defaultfilters import filesizeformat
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.views.decorators.http import require_POST

from accounts.admin_scoping import TenantScopedAdmin
from config.errors import ApplicationError
from reporting.models import ExecutionStatus, ReportExecution, ReportOutput, Trigger
from reporting.services import executions as execution_services
from reporting.services.access_log import ClientInfo
from reporting.slots import time_zone_get

ACTIVE = (ExecutionStatus.QUEUED, ExecutionStatus.RUNNING)
RETRYABLE = (ExecutionStatus.FAILED, ExecutionStatus.CANCELLED)
# Worth having when something goes wrong, not when reading a report: behind a <details>.
TECHNICAL_FIELDS = [
    "celery_task_id", "attempts", "enqueued_at", "started_at", "heartbeat_at", "lease_owner",
    "lease_expires_at", "finished_at", "slot_at", "search_synced_at",
]  # fmt: skip


def output_download_url(output: ReportOutput) -> str:
    """The API's download, which checks the viewer's role and writes the access log."""
    query = urlencode({"org": output.execution.organization.slug})
    return f"{reverse('report-output-download', args=[output.pk])}?{query}"


def download_links(outputs) -> str:
    return format_html_join(
        " ",
        '<a class="button" href="{}" download>{}</a>',
        ((output_download_url(o), o.format.upper()) for o in outputs if not o.expired_at),
    )


def _local(moment: datetime | None, execution: ReportExecution) -> str:
    if moment is None:
        return ""
    zone = time_zone_get(execution.organization.time_zone)
    return f"{moment.astimezone(zone):%Y-%m-%d %H:%M %Z}"


def _duration(execution: ReportExecution) -> str:
    if not execution.started_at:
        return ""
    seconds = ((execution.finished_at or timezone.now()) - execution.started_at).total_seconds()
    minutes, rest = divmod(round(seconds, 1), 60)
    return f"{int(minutes)} min {rest:.0f} s" if minutes else f"{rest:.1f} s"


def _requested_by(execution: ReportExecution) -> str:
    if execution.requested_by:
        return execution.requested_by.get_full_name() or execution.requested_by.get_username()
    if execution.schedule_id:
        return f"Schedule “{execution.schedule}”"
    return "The command line" if execution.trigger == Trigger.CLI else "—"


def _parameters(execution: ReportExecution) -> list[tuple[str, Any]]:
    """(label, value) per parameter, labelled with the schema's titles where it has them."""
    properties = execution.template.parameters_schema.get("properties", {})
    labelled = []
    for name, value in execution.parameters.items():
        spec = properties.get(name)
        title = spec.get("title") if isinstance(spec, dict) else None
        labelled.append((title or name.replace("_", " ").capitalize(), value))
    return labelled


def _outputs(execution: ReportExecution) -> list[dict[str, Any]]:
    return [
        {
            "format": output.format.upper(),
            "filename": output.filename,
            "size": output.size,
            "size_label": filesizeformat(output.size),
            "expires_at": output.expires_at.isoformat(),
            "expires_label": _local(output.expires_at, execution),
            "expired": output.expired_at is not None,
            "url": "" if output.expired_at else output_download_url(output),
        }
        for output in execution.outputs.all()
    ]


def _deliveries(execution: ReportExecution) -> list[dict[str, Any]]:
    return [
        {
            "target": str(delivery.target),
            "status": delivery.status,
            "attempts": delivery.attempts,
            "sent_at": _local(delivery.sent_at, execution),
            "error": delivery.last_error,
        }
        for delivery in execution.deliveries.select_related("target").order_by("pk")
    ]


def execution_state(execution: ReportExecution) -> dict[str, Any]:
    """What the page shows and the progress endpoint answers: one shape for both."""
    deliveries = _deliveries(execution)
    return {
        "status": execution.status,
        "status_label": execution.get_status_display(),
        "progress": execution.progress,
        "active": execution.status in ACTIVE,
        "watch": execution.status in ACTIVE or any(d["status"] == "pending" for d in deliveries),
        "row_count": execution.row_count,
        "duration": _duration(execution),
        "error": execution.error if execution.status == ExecutionStatus.FAILED else "",
        "can_cancel": execution.status in ACTIVE,
        "can_retry": execution.status in RETRYABLE,
        "outputs": _outputs(execution),
        "deliveries": deliveries,
    }


@admin.register(ReportExecution)
class ReportExecutionAdmin(TenantScopedAdmin):
    list_display = [
        "id", "template", "status_badge", "progress_bar", "duration", "row_count",
        "requested_by", "queued_at", "downloads",
    ]  # fmt: skip
    list_display_links = ["id", "template"]
    list_filter = ["status", "trigger", "organization", "template"]
    search_fields = ["template__name", "error"]
    list_select_related = ["template", "organization", "requested_by"]
    actions = ["cancel", "retry"]
    date_hierarchy = "queued_at"

    class Media:
        css = {"all": ["reporting/executions.css"]}

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("outputs")

    def has_add_permission(self, request):
        return False

    @admin.display(description="Status", ordering="status")
    def status_badge(self, execution):
        return format_html(
            '<span class="execution-status status-{}">{}</span>',
            execution.status,
            execution.get_status_display(),
        )

    @admin.display(description="Progress")
    def progress_bar(self, execution):
        return format_html(
            '<progress max="100" value="{}" title="{}%"></progress>',
            execution.progress,
            execution.progress,
        )

    @admin.display(description="Duration")
    def duration(self, execution):
        return _duration(execution) if execution.finished_at else ""

    @admin.display(description="Outputs")
    def downloads(self, execution):
        return download_links(execution.outputs.all())

    def get_urls(self):
        def view(function, suffix: str):
            return path(
                f"<path:object_id>/{suffix}/",
                self.admin_site.admin_view(function),
                name=f"reporting_reportexecution_{suffix}",
            )

        return [
            view(self.progress_view, "progress"),
            view(require_POST(self.retry_view), "retry"),
            view(require_POST(self.cancel_view), "cancel"),
            *super().get_urls(),
        ]

    def _execution(self, request: HttpRequest, object_id: str) -> ReportExecution:
        if not str(object_id).isdigit():
            raise Http404("No such execution.")
        return get_object_or_404(
            self.get_queryset(request).select_related("schedule"), pk=object_id
        )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        """Read-only: an execution is changed through its actions, never edited."""
        execution = self._execution(request, object_id)
        context = {
            **self.admin_site.each_context(request),
            "title": f"{execution.template.name} · execution {execution.pk}",
            "opts": self.model._meta,
            "original": execution,
            "execution": execution,
            "state": execution_state(execution),
            "requested_by": _requested_by(execution),
            "parameters": _parameters(execution),
            "queued": _local(execution.queued_at, execution),
            "technical": self._technical(execution),
        }
        return TemplateResponse(request, "admin/reporting/reportexecution/detail.html", context)

    def _technical(self, execution: ReportExecution) -> list[tuple[str, Any]]:
        technical = []
        for name in TECHNICAL_FIELDS:
            value = getattr(execution, name)
            value = _local(value, execution) if isinstance(value, datetime) else value
            technical.append((ReportExecution._meta.get_field(name).verbose_name, value))
        return technical

    def progress_view(self, request, object_id):
        return JsonResponse(execution_state(self._execution(request, object_id)))

    def retry_view(self, request, object_id):
        execution = self._execution(request, object_id)
        try:
            retry = execution_services.execution_retry(
                execution=execution, user=request.user, client=ClientInfo.from_request(request)
            )
        except ApplicationError as error:
            self.message_user(request, error.message, messages.ERROR)
            return redirect("admin:reporting_reportexecution_change", execution.pk)
        self.message_user(request, f"Execution {execution.pk} retried as {retry.pk}.")
        return redirect("admin:reporting_reportexecution_change", retry.pk)

    def cancel_view(self, request, object_id):
        execution = self._execution(request, object_id)
        try:
            execution_services.execution_cancel(
                execution=execution, user=request.user, client=ClientInfo.from_request(request)
            )
        except ApplicationError as error:
            self.message_user(request, error.message, messages.ERROR)
        else:
            self.message_user(request, f"Execution {execution.pk} cancelled.")
        return redirect("admin:reporting_reportexecution_change", execution.pk)

    @admin.action(description="Cancel the selected executions")
    def cancel(self, request, queryset):
        for execution in queryset.filter(status__in=ACTIVE):
            try:
                execution_services.execution_cancel(
                    execution=execution, user=request.user, client=ClientInfo.from_request(request)
                )
            except ApplicationError as error:  # it ended meanwhile
                self.message_user(request, f"{execution.pk}: {error.message}", messages.ERROR)
            else:
                self.message_user(request, f"Execution {execution.pk} cancelled.")

    @admin.action(description="Retry the selected executions")
    def retry(self, request, queryset):
        for execution in queryset.filter(status__in=RETRYABLE):
            try:
                retry = execution_services.execution_retry(
                    execution=execution, user=request.user, client=ClientInfo.from_request(request)
                )
            except ApplicationError as error:
                self.message_user(request, f"{execution.pk}: {error.message}", messages.ERROR)
            else:
                self.message_user(request, f"Execution {execution.pk} retried as {retry.pk}.")
