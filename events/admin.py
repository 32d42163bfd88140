from django.contrib import admin

from events.models import UsageEvent


@admin.register(UsageEvent)
class UsageEventAdmin(admin.ModelAdmin):
    list_display = ["timestamp", "organization", "user_id", "event_type", "event_category"]
    list_filter = ["event_category", "event_type", "organization"]
    search_fields = ["user_id", "event_id", "event_type"]
    date_hierarchy = "timestamp"
    readonly_fields = [f.name for f in UsageEvent._meta.fields]
    show_full_result_count = False  # counting millions of rows on every page is slow
