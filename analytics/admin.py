from django.contrib import admin

from accounts.admin_scoping import TenantScopedAdmin
from analytics.models import AnalyticsDirtyDay, AnalyticsReportRequest, AnalyticsSnapshot


@admin.register(AnalyticsSnapshot)
class AnalyticsSnapshotAdmin(TenantScopedAdmin):
    list_display = ["organization", "date", "metric", "computed_at"]
    list_filter = ["metric", "organization"]
    date_hierarchy = "date"
    readonly_fields = ["organization", "date", "metric", "value", "computed_at"]


@admin.register(AnalyticsDirtyDay)
class AnalyticsDirtyDayAdmin(TenantScopedAdmin):
    list_display = ["organization", "date", "marked_at"]
    list_filter = ["organization"]


@admin.register(AnalyticsReportRequest)
class AnalyticsReportRequestAdmin(TenantScopedAdmin):
    """Read-only: requests are made through the API; their runs are report executions."""

    list_display = ["created_at", "organization", "requested_by", "report_type", "format", "status"]
    list_filter = ["report_type", "format", "organization"]
    list_select_related = ["organization", "requested_by", "execution"]
    date_hierarchy = "created_at"

    @admin.display(description="Status")
    def status(self, report_request: AnalyticsReportRequest) -> str:
        return report_request.execution.status

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
