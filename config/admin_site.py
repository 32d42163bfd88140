"""The project's admin site: Django's, with the analytics dashboard in its app lists."""

from django.apps import apps
from django.contrib import admin
from django.http import HttpRequest
from django.urls import reverse

from analytics.admin_dashboard import dashboard_nav_entry


class HubAdminSite(admin.AdminSite):
    site_header = "Reporting Hub"
    site_title = "Reporting Hub"

    def get_app_list(self, request: HttpRequest, app_label: str | None = None) -> list[dict]:
        app_list = super().get_app_list(request, app_label)
        if app_label not in (None, "analytics"):
            return app_list
        entry = dashboard_nav_entry(request)
        if entry is None:
            return app_list
        analytics = next((app for app in app_list if app["app_label"] == "analytics"), None)
        if analytics is None:
            analytics = self._analytics_app()
            app_list = sorted([*app_list, analytics], key=lambda app: app["name"].lower())
        analytics["models"].insert(0, entry)
        return app_list

    def _analytics_app(self) -> dict:
        return {
            "name": apps.get_app_config("analytics").verbose_name,
            "app_label": "analytics",
            "app_url": reverse("admin:app_list", kwargs={"app_label": "analytics"}),
            "has_module_perms": True,
            "models": [],
        }
