from django.contrib import admin, messages

from accounts.logins import login_unlock
from accounts.models import LoginLockout, Membership, Organization
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


@admin.register(LoginLockout)
class LoginLockoutAdmin(admin.ModelAdmin):
    """Superusers only: usernames with wrong passwords, and the locked ones to unlock."""

    list_display = ["username", "failures", "window_started_at", "last_failure_at", "locked_at"]
    list_filter = [("locked_at", admin.EmptyFieldListFilter)]
    search_fields = ["username"]
    readonly_fields = list_display
    actions = ["unlock"]

    def has_module_permission(self, request) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_view_permission(self, request, obj=None) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return request.user.is_active and request.user.is_superuser

    def delete_model(self, request, obj) -> None:
        login_unlock(usernames=[obj.username])

    def delete_queryset(self, request, queryset) -> None:
        login_unlock(usernames=list(queryset.values_list("username", flat=True)))

    @admin.action(description="Unlock the selected usernames (forget their failures)")
    def unlock(self, request, queryset) -> None:
        count = login_unlock(usernames=list(queryset.values_list("username", flat=True)))
        self.message_user(request, f"Unlocked {count} username(s).", messages.SUCCESS)
