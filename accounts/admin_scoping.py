"""Tenant scoping for the Django admin.

Superusers see everything. Other active staff see, change and pick (foreign-key choices) only
the objects of the organisations they administer (membership role admin or super_admin), and
their admin permissions come from that role, not from Django's per-model permissions. Models
that belong to no organisation (users, tokens, celery-beat, auditlog, lockouts, connection
grants) are for superusers only.
"""

from typing import Any

from django.contrib import admin
from django.contrib.admin.utils import get_fields_from_path
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts.models import Organization
from accounts.selectors import organizations_administered


def _superuser(request: HttpRequest) -> bool:
    return request.user.is_active and request.user.is_superuser


def administered_ids(request: HttpRequest) -> set | None:
    """The ids of the organisations the user administers, once per request; None: all."""
    if _superuser(request):
        return None
    if not hasattr(request, "_administered_organization_ids"):
        user = request.user
        ids = set()
        if user.is_active and user.is_staff:
            ids = set(organizations_administered(user=user).values_list("pk", flat=True))
        request._administered_organization_ids = ids
    return request._administered_organization_ids


def organization_lookup(model: type[models.Model]) -> str | None:
    """How rows of a model reach their organisation, for a `<lookup>__in` filter."""
    if model is Organization:
        return "pk"
    if model is get_user_model():
        return "memberships__organization"
    names = {field.name for field in model._meta.get_fields()}
    if "organization" in names:
        return "organization"
    if "execution" in names:
        return "execution__organization"
    return None


def scoped(queryset: QuerySet, ids: set | None) -> QuerySet:
    """The rows of the given organisations; a model with no organisation gives none."""
    if ids is None:
        return queryset
    lookup = organization_lookup(queryset.model)
    if lookup is None:
        return queryset.none()
    queryset = queryset.filter(**{f"{lookup}__in": ids})
    return queryset.distinct() if lookup == "memberships__organization" else queryset


class TenantScopedMixin:
    """For ModelAdmins and inlines of tenant data: querysets, choices and permissions by role."""

    def _may_administer(self, request: HttpRequest) -> bool:
        ids = administered_ids(request)
        return ids is None or bool(ids)

    def _in_scope(self, request: HttpRequest, obj: models.Model | None) -> bool:
        ids = administered_ids(request)
        if ids is None or obj is None or obj.pk is None:
            return ids is None or bool(ids)
        return scoped(obj.__class__._default_manager.filter(pk=obj.pk), ids).exists()

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return scoped(super().get_queryset(request), administered_ids(request))

    def formfield_for_foreignkey(self, db_field, request: HttpRequest, **kwargs: Any):
        ids = administered_ids(request)
        if ids is not None:
            kwargs["queryset"] = scoped(db_field.remote_field.model._default_manager.all(), ids)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request: HttpRequest, **kwargs: Any):
        ids = administered_ids(request)
        if ids is not None:
            kwargs["queryset"] = scoped(db_field.remote_field.model._default_manager.all(), ids)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def get_autocomplete_fields(self, request: HttpRequest):
        # The autocomplete view searches the related model's own admin (users: superusers
        # only); a plain select shows the scoped choices instead.
        return super().get_autocomplete_fields(request) if _superuser(request) else ()


class TenantScopedAdmin(TenantScopedMixin, admin.ModelAdmin):
    def has_module_permission(self, request: HttpRequest) -> bool:
        return self._may_administer(request)

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return self._in_scope(request, obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self._may_administer(request)

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return self._in_scope(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return self._in_scope(request, obj)

    def get_list_filter(self, request: HttpRequest):
        # A related filter lists every row of the related model; scoped users get only the
        # ones their own rows point to.
        if _superuser(request):
            return super().get_list_filter(request)
        return [self._related_only(item) for item in super().get_list_filter(request)]

    def _related_only(self, item):
        if isinstance(item, str) and get_fields_from_path(self.model, item)[-1].is_relation:
            return (item, admin.RelatedOnlyFieldListFilter)
        return item

    def save_form(self, request: HttpRequest, form, change: bool):
        obj = super().save_form(request, form, change)
        ids = administered_ids(request)
        if ids is not None and getattr(_organization_of(obj), "pk", None) not in ids:
            raise PermissionDenied("That organisation is not one you administer.")
        return obj


def _organization_of(obj: models.Model) -> Organization | None:
    """The organisation an object (saved or not) is about to belong to, as set in memory."""
    if isinstance(obj, Organization):
        return obj
    target = obj
    for name in (organization_lookup(obj.__class__) or "-").split("__"):
        target = getattr(target, name, None) if target is not None else None
    return target if isinstance(target, Organization) else None


class TenantScopedInline(TenantScopedMixin):
    """For inlines whose parent is a TenantScopedAdmin: the parent decides the object."""

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return self._may_administer(request)

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return self._may_administer(request)

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return self._may_administer(request)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return self._may_administer(request)


class SuperuserOnlyMixin:
    """For admins of models that belong to no organisation."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return _superuser(request)

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return _superuser(request)

    def has_add_permission(self, request: HttpRequest, *args) -> bool:
        return _superuser(request) and super().has_add_permission(request, *args)

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return _superuser(request) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return _superuser(request) and super().has_delete_permission(request, obj)


def restrict_to_superusers(site: admin.AdminSite, *models_: type[models.Model]) -> None:
    """Re-register models another app registered, keeping their admin, for superusers only."""
    for model in models_:
        current = type(site._registry[model])
        site.unregister(model)
        restricted = type(f"SuperuserOnly{current.__name__}", (SuperuserOnlyMixin, current), {})
        site.register(model, restricted)
