from auditlog import admin as _auditlog_admin  # noqa: F401  (registers LogEntry)
from auditlog.models import LogEntry
from django.contrib import admin, messages
from django.contrib.auth import admin as _auth_admin  # noqa: F401  (registers User, Group)
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.http import HttpRequest
from django_celery_beat import admin as _celery_beat_admin  # noqa: F401  (registers its models)
from django_celery_beat.models import (
    ClockedSchedule,
    CrontabSchedule,
    IntervalSchedule,
    PeriodicTask,
    SolarSchedule,
)
from rest_framework_simplejwt.token_blacklist import admin as _token_admin  # noqa: F401
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from accounts.admin_scoping import (
    TenantScopedAdmin,
    TenantScopedInline,
    restrict_to_superusers,
)
from accounts.logins import login_unlock
from accounts.models import LoginLockout, Membership, Organization, Role
from accounts.selectors import user_is_super_admin
from accounts.services import organization_delete, organization_save

# Users, groups, tokens, beat's schedules and the audit log belong to no one organisation.
restrict_to_superusers(
    admin.site,
    get_user_model(),
    Group,
    OutstandingToken,
    BlacklistedToken,
    PeriodicTask,
    IntervalSchedule,
    CrontabSchedule,
    SolarSchedule,
    ClockedSchedule,
    LogEntry,
)


class MembershipScoping:
    """Only a super admin (or a superuser) sees, grants or changes the super_admin role."""

    def get_queryset(self, request: HttpRequest):
        queryset = super().get_queryset(request)
        if user_is_super_admin(user=request.user):
            return queryset
        return queryset.exclude(role=Role.SUPER_ADMIN)

    def formfield_for_choice_field(self, db_field, request: HttpRequest, **kwargs):
        if db_field.name == "role" and not user_is_super_admin(user=request.user):
            kwargs["choices"] = [c for c in Role.choices if c[0] != Role.SUPER_ADMIN]
        return super().formfield_for_choice_field(db_field, request, **kwargs)


class MembershipInline(MembershipScoping, TenantScopedInline, admin.TabularInline):
    model = Membership
    extra = 1
    autocomplete_fields = ["user"]


@admin.register(Organization)
class OrganizationAdmin(TenantScopedAdmin):
    list_display = ["name", "slug", "time_zone", "created_at"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    readonly_fields = ["id", "created_at"]
    inlines = [MembershipInline]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return request.user.is_active and request.user.is_superuser

    def save_model(self, request, obj, form, change) -> None:
        organization_save(organization=obj)

    def delete_model(self, request, obj) -> None:
        organization_delete(organization=obj)

    def delete_queryset(self, request, queryset) -> None:
        for organization in queryset:
            organization_delete(organization=organization)


@admin.register(Membership)
class MembershipAdmin(MembershipScoping, TenantScopedAdmin):
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
