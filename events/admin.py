from django.contrib import admin

from accounts.admin_scoping import TenantScopedAdmin
from events.models import (
    EquipmentUsageLog,
    InventoryAnalytics,
    ProjectAnalytics,
    RevenueAnalytics,
    UsageEvent,
)


@admin.register(UsageEvent)
class UsageEventAdmin(TenantScopedAdmin):
    list_display = ["timestamp", "organization", "user_id", "event_type", "event_category"]
    list_filter = ["event_category", "event_type", "organization"]
    search_fields = ["user_id", "event_id", "event_type"]
    date_hierarchy = "timestamp"
    readonly_fields = [f.name for f in UsageEvent._meta.fields]
    show_full_result_count = False  # counting millions of rows on every page is slow

    def has_add_permission(self, request) -> bool:
        return False  # every field is read-only: rows come from the API


class FactTableAdmin(TenantScopedAdmin):
    """Fact tables are written by the API and the import command; the admin only reads them."""

    show_full_result_count = False

    def has_add_permission(self, request) -> bool:
        return False

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]


@admin.register(EquipmentUsageLog)
class EquipmentUsageLogAdmin(FactTableAdmin):
    list_display = ["start_time", "organization", "equipment_id", "equipment_name", "user_id",
                    "duration_minutes", "status", "revenue"]  # fmt: skip
    list_filter = ["status", "equipment_type", "organization"]
    search_fields = ["equipment_id", "equipment_name", "user_id", "session_id"]
    date_hierarchy = "start_time"


@admin.register(InventoryAnalytics)
class InventoryAnalyticsAdmin(FactTableAdmin):
    list_display = ["date", "organization", "item_id", "item_name", "quantity_consumed",
                    "cost_consumed", "reorder_triggered"]  # fmt: skip
    list_filter = ["category", "reorder_triggered", "organization"]
    search_fields = ["item_id", "item_name"]
    date_hierarchy = "date"


@admin.register(ProjectAnalytics)
class ProjectAnalyticsAdmin(FactTableAdmin):
    list_display = ["project_id", "name", "organization", "status", "start_date", "end_date",
                    "bom_cost", "bom_item_count"]  # fmt: skip
    list_filter = ["status", "organization"]
    search_fields = ["project_id", "name"]
    date_hierarchy = "start_date"


@admin.register(RevenueAnalytics)
class RevenueAnalyticsAdmin(FactTableAdmin):
    list_display = ["timestamp", "organization", "transaction_id", "revenue_source", "amount",
                    "currency", "payment_method"]  # fmt: skip
    list_filter = ["revenue_source", "payment_method", "organization"]
    search_fields = ["transaction_id", "customer_id"]
    date_hierarchy = "timestamp"
