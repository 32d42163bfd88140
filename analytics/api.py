"""Analytics answers under /api/v1/analytics/ for admins: the dashboard and its sections."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.permissions import IsOrgAdmin
from analytics import selectors
from analytics.serializers import (
    DashboardSerializer,
    EquipmentSerializer,
    InventorySerializer,
    OverviewSerializer,
    PeriodQuerySerializer,
    ProjectsSerializer,
    RangeQuerySerializer,
    RevenueSerializer,
    UsageSerializer,
)


class AnalyticsViewSet(viewsets.ViewSet):
    """Answers come from daily snapshots plus today's raw rows, cached per organisation and
    query for ANALYTICS_CACHE_TTL seconds; new data makes them stale at once."""

    permission_classes = [IsOrgAdmin]

    def _query(self, request: Request, serializer_class: type[serializers.Serializer]) -> dict:
        query = serializer_class(
            data=request.query_params, context={"organization": request.organization}
        )
        query.is_valid(raise_exception=True)
        return query.validated_data

    def _section(self, request: Request, name: str) -> Response:
        query = self._query(request, PeriodQuerySerializer)
        return Response(
            selectors.section_get(name=name, organization=request.organization, **query)
        )

    @extend_schema(parameters=[PeriodQuerySerializer], responses=DashboardSerializer)
    @action(detail=False, methods=["get"])
    def dashboard(self, request: Request) -> Response:
        """Every section over the same range, with its chart series."""
        query = self._query(request, PeriodQuerySerializer)
        return Response(selectors.dashboard_get(organization=request.organization, **query))

    @extend_schema(parameters=[RangeQuerySerializer], responses=OverviewSerializer)
    @action(detail=False, methods=["get"])
    def overview(self, request: Request) -> Response:
        """The headline cards."""
        query = self._query(request, RangeQuerySerializer)
        return Response(
            selectors.section_get(name="overview", organization=request.organization, **query)
        )

    @extend_schema(parameters=[PeriodQuerySerializer], responses=UsageSerializer)
    @action(detail=False, methods=["get"])
    def usage(self, request: Request) -> Response:
        """Events and active users per period, by type and category, peak hours, logins."""
        return self._section(request, "usage")

    @extend_schema(parameters=[PeriodQuerySerializer], responses=InventorySerializer)
    @action(detail=False, methods=["get"])
    def inventory(self, request: Request) -> Response:
        """Consumption and cost over time, top items, efficiency, waste, reorders."""
        return self._section(request, "inventory")

    @extend_schema(parameters=[PeriodQuerySerializer], responses=EquipmentSerializer)
    @action(detail=False, methods=["get"])
    def equipment(self, request: Request) -> Response:
        """Minutes, sessions, utilisation against opening hours, maintenance, revenue."""
        return self._section(request, "equipment")

    @extend_schema(parameters=[PeriodQuerySerializer], responses=ProjectsSerializer)
    @action(detail=False, methods=["get"])
    def projects(self, request: Request) -> Response:
        """Projects by status, duration, bill-of-materials cost and materials."""
        return self._section(request, "projects")

    @extend_schema(parameters=[PeriodQuerySerializer], responses=RevenueSerializer)
    @action(detail=False, methods=["get"])
    def revenue(self, request: Request) -> Response:
        """Income by source and payment method per period, growth against the one before."""
        return self._section(request, "revenue")
