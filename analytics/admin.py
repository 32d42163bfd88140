from django.contrib import admin

from analytics.models import AnalyticsDirtyDay, AnalyticsSnapshot


@admin.register(AnalyticsSnapshot)
class AnalyticsSnapshotAdmin(admin.ModelAdmin):
    list_display = ["organization", "date", "metric", "computed_at"]
    list_filter = ["metric", "organization"]
    date_hierarchy = "date"
    readonly_fields = ["organization", "date", "metric", "value", "computed_at"]


@admin.register(AnalyticsDirtyDay)
class AnalyticsDirtyDayAdmin(admin.ModelAdmin):
    list_display = ["organization", "date", "marked_at"]
    list_filter = ["organization"]
