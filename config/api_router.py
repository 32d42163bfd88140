"""The API's router: one root for /api/v1/ and one for each group of endpoints.

A group is the first segment of a registered prefix (`business-intelligence/report-templates`
is in `business-intelligence`). The root lists the groups and the ungrouped endpoints; a group's
root lists its endpoints. Both are read from the registry, so a new viewset appears in them
without a list kept by hand.
"""

from collections.abc import Iterable

from django.urls import URLPattern, re_path
from rest_framework.permissions import AllowAny
from rest_framework.routers import APIRootView, DefaultRouter
from rest_framework.urlpatterns import format_suffix_patterns


class ApiRootView(APIRootView):
    """The roots only list links, so they answer without a login."""

    permission_classes = [AllowAny]
    name = None  # set per group by as_view(), read by DRF's get_view_name
    description = None


class ApiRouter(DefaultRouter):
    APIRootView = ApiRootView

    def __init__(self, *, extra_groups: dict[str, Iterable[URLPattern]] | None = None) -> None:
        """extra_groups: groups of plain views (not viewsets) by name, listed by URL name."""
        super().__init__()
        self.extra_groups = extra_groups or {}

    def get_api_root_view(self, api_urls=None):
        entries = {}
        for prefix, url_name in self._endpoints():
            group, _, rest = prefix.partition("/")
            entries[group] = self._group_root_name(group) if rest else url_name
        for group in self.extra_groups:
            entries[group] = self._group_root_name(group)
        return self.APIRootView.as_view(api_root_dict=entries)

    def get_urls(self) -> list:
        group_roots = [
            re_path(
                rf"^{group}{self.trailing_slash}$",
                self.APIRootView.as_view(
                    api_root_dict=entries,
                    name=f"Api Root: {group}",
                    description=f"The endpoints under /api/v1/{group}/.",
                ),
                name=self._group_root_name(group),
            )
            for group, entries in self._groups().items()
        ]
        return format_suffix_patterns(group_roots) + super().get_urls()

    def _groups(self) -> dict[str, dict[str, str]]:
        groups: dict[str, dict[str, str]] = {}
        for prefix, url_name in self._endpoints():
            group, _, rest = prefix.partition("/")
            if rest:
                groups.setdefault(group, {})[rest] = url_name
        for group, patterns in self.extra_groups.items():
            for pattern in patterns:
                groups.setdefault(group, {})[str(pattern.pattern).rstrip("/")] = pattern.name
        return groups

    def _endpoints(self) -> list[tuple[str, str]]:
        """(path under /api/v1/, URL name) of each list route, else of each extra action on the
        collection: a viewset of actions only (analytics/dashboard, …) has no list."""
        list_route_name = self.routes[0].name
        endpoints = []
        for prefix, viewset, basename in self.registry:
            if hasattr(viewset, "list"):
                endpoints.append((prefix, list_route_name.format(basename=basename)))
                continue
            endpoints.extend(
                (f"{prefix}/{action.url_path}", f"{basename}-{action.url_name}")
                for action in viewset.get_extra_actions()
                if not action.detail
            )
        return endpoints

    @staticmethod
    def _group_root_name(group: str) -> str:
        return f"api-root-{group}"
