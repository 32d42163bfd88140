from django.contrib import admin

from accounts.models import Membership, Organization
from accounts.services import organization_delete, organization_save


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 1
    autocomplete_fields = ["user"]


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "time_zone", "created_at"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    readonly_fields = ["id", "created_at"]
    inlines = [MembershipInline]

    def save_model(self, request, obj, form, change) -> None:
        organization_save(organization=obj)

    def delete_model(self, request, obj) -> None:
        organization_delete(organization=obj)

    def delete_queryset(self, request, queryset) -> None:
        for organization in queryset:
            organization_delete(organization=organization)


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "organization", "role", "created_at"]
    list_filter = ["role", "organization"]
    search_fields = ["user__username", "user__email", "organization__name", "organization__slug"]
    autocomplete_fields = ["user", "organization"]
    list_select_related = ["user", "organization"]
