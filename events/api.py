"""Analytics tables under /api/v1/analytics/: ingestion by any member, reading by admins.

Every table answers the same way: POST one record or a batch (`{"events": [...]}` for usage
events, `{"records": [...]}` for the fact tables), stored whole or not at all; GET filtered by
local dates with cursor pages, or `?format=csv` streamed.
"""

import csv
import io
import json

from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import serializers, status, viewsets
from rest_framework.pagination import CursorPagination
from rest_framework.renderers import BaseRenderer, BrowsableAPIRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.permissions import IsOrgAdmin, IsOrgViewer
from accounts.throttles import IngestThrottle
from config.csv_formulas import cell_neutralize
from events import selectors, services
from events.ingestion import IngestResult
from events.models import (
    EquipmentUsageLog,
    InventoryAnalytics,
    ProjectAnalytics,
    RevenueAnalytics,
    UsageEvent,
)


class UsageEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = UsageEvent
        fields = ["id", "event_id", "user_id", "event_type", "event_category", "metadata",
                  "timestamp", "received_at"]  # fmt: skip


class EquipmentUsageSerializer(serializers.ModelSerializer):
    class Meta:
        model = EquipmentUsageLog
        exclude = ["organization"]


class InventoryRecordSerializer(serializers.ModelSerializer):
    class Meta:
        model = InventoryAnalytics
        exclude = ["organization"]


class ProjectRecordSerializer(serializers.ModelSerializer):
    class Meta:
        model = ProjectAnalytics
        exclude = ["organization"]


class RevenueTransactionSerializer(serializers.ModelSerializer):
    class Meta:
        model = RevenueAnalytics
        exclude = ["organization"]


class DateFilterSerializer(serializers.Serializer):
    start_date = serializers.DateField(required=False)
    end_date = serializers.DateField(required=False)


class EventFilterSerializer(DateFilterSerializer):
    event_type = serializers.CharField(required=False)
    event_category = serializers.CharField(required=False)
    user_id = serializers.CharField(required=False)


class EquipmentUsageFilterSerializer(DateFilterSerializer):
    equipment_id = serializers.CharField(required=False)
    user_id = serializers.CharField(required=False)


class InventoryRecordFilterSerializer(DateFilterSerializer):
    item_id = serializers.CharField(required=False)
    category = serializers.CharField(required=False)


class ProjectRecordFilterSerializer(DateFilterSerializer):
    status = serializers.ChoiceField(choices=ProjectAnalytics.Status.choices, required=False)


class RevenueTransactionFilterSerializer(DateFilterSerializer):
    revenue_source = serializers.ChoiceField(
        choices=RevenueAnalytics.Source.choices, required=False
    )
    payment_method = serializers.CharField(required=False)


class IngestResultSerializer(serializers.Serializer):
    stored = serializers.IntegerField()
    duplicates = serializers.IntegerField()


class UpsertResultSerializer(IngestResultSerializer):
    updated = serializers.IntegerField()


def cursor_pagination(date_field: str) -> type[CursorPagination]:
    """Keyset pages on (date_field, id): as fast on page 10,000 as on page 1."""
    return type(
        "AnalyticsCursorPagination",
        (CursorPagination,),
        {"ordering": (f"-{date_field}", "-id"), "page_size": 100,
         "page_size_query_param": "page_size", "max_page_size": 1000},
    )  # fmt: skip


class CSVRenderer(BaseRenderer):
    """Lets `?format=csv` through content negotiation; the view streams the file itself."""

    media_type = "text/csv"
    format = "csv"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data


class AnalyticsTableViewSet(viewsets.GenericViewSet):
    """One analytics table: subclasses name the model, its date column, filters and columns."""

    date_field: str
    batch_key = "records"
    filter_serializer_class: type[DateFilterSerializer]
    result_serializer_class = IngestResultSerializer
    csv_columns: list[str]
    renderer_classes = [JSONRenderer, BrowsableAPIRenderer, CSVRenderer]
    filter_backends = []

    def get_permissions(self):
        return [IsOrgAdmin() if self.action == "list" else IsOrgViewer()]

    def get_throttles(self):
        return [IngestThrottle()] if self.action == "create" else super().get_throttles()

    def ingest(self, request: Request, records: list) -> IngestResult:
        raise NotImplementedError

    def create(self, request: Request) -> Response:
        body = request.data
        batch = isinstance(body, dict) and self.batch_key in body
        records = body.get(self.batch_key) if batch else [body]
        if not isinstance(records, list):
            raise serializers.ValidationError({self.batch_key: ["A list of records."]})
        result = self.ingest(request, records)
        return Response(self.result_serializer_class(result).data, status=status.HTTP_201_CREATED)

    def list(self, request: Request):
        filters = self.filter_serializer_class(data=request.query_params)
        filters.is_valid(raise_exception=True)
        rows = selectors.records_for(
            model=self.queryset.model, date_field=self.date_field,
            organization=request.organization, **filters.validated_data,
        )  # fmt: skip
        if request.accepted_renderer.format == "csv":
            ordered = rows.order_by(self.date_field, "id")
            return csv_response(ordered, self.csv_columns, filename=f"{self.basename}.csv")
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)


def _schemas(model_name: str, filters: type[serializers.Serializer], batch_key: str, result):
    """The OpenAPI description of a table's create and list."""
    create = extend_schema(
        request={"application/json": {"type": "object"}},
        responses={201: result},
        description=f'One {model_name}, or {{"{batch_key}": [...]}} for a batch of up to '
        "ANALYTICS_BATCH_SIZE; a batch is stored whole or not at all.",
    )
    listing = extend_schema(
        parameters=[filters, OpenApiParameter("format", enum=["json", "csv"])],
        description="Admins only. start_date and end_date are whole days in the organisation's "
        "time zone; newest first in cursor pages, or all of them streamed with ?format=csv.",
    )
    return create, listing


class UsageEventViewSet(AnalyticsTableViewSet):
    serializer_class = UsageEventSerializer
    queryset = UsageEvent.objects.none()  # the schema's model; list() scopes it
    pagination_class = cursor_pagination("timestamp")
    date_field = "timestamp"
    batch_key = "events"
    filter_serializer_class = EventFilterSerializer
    csv_columns = ["timestamp", "user_id", "event_type", "event_category", "event_id", "metadata"]

    def ingest(self, request: Request, records: list) -> IngestResult:
        return services.events_ingest(
            organization=request.organization, events=records, default_user_id=str(request.user.pk)
        )


class FactTableViewSet(AnalyticsTableViewSet):
    """A fact table registered in services.FACT_TABLES under the viewset's basename."""

    def ingest(self, request: Request, records: list) -> IngestResult:
        return services.facts_ingest(
            table=self.basename, organization=request.organization, records=records
        )


class EquipmentUsageViewSet(FactTableViewSet):
    serializer_class = EquipmentUsageSerializer
    queryset = EquipmentUsageLog.objects.none()
    pagination_class = cursor_pagination("start_time")
    date_field = "start_time"
    filter_serializer_class = EquipmentUsageFilterSerializer
    csv_columns = ["start_time", "end_time", "duration_minutes", "equipment_id", "equipment_name",
                   "equipment_type", "user_id", "project_id", "usage_type", "status", "cost",
                   "revenue", "session_id", "materials_used"]  # fmt: skip


class InventoryRecordViewSet(FactTableViewSet):
    serializer_class = InventoryRecordSerializer
    queryset = InventoryAnalytics.objects.none()
    pagination_class = cursor_pagination("date")
    date_field = "date"
    filter_serializer_class = InventoryRecordFilterSerializer
    csv_columns = ["date", "item_id", "item_name", "category", "quantity_consumed",
                   "cost_consumed", "efficiency_score", "waste_percentage",
                   "reorder_triggered"]  # fmt: skip


class ProjectRecordViewSet(FactTableViewSet):
    serializer_class = ProjectRecordSerializer
    queryset = ProjectAnalytics.objects.none()
    pagination_class = cursor_pagination("start_date")
    date_field = "start_date"
    filter_serializer_class = ProjectRecordFilterSerializer
    result_serializer_class = UpsertResultSerializer
    csv_columns = ["project_id", "name", "status", "start_date", "end_date", "bom_cost",
                   "bom_item_count", "bom_items"]  # fmt: skip


class RevenueTransactionViewSet(FactTableViewSet):
    serializer_class = RevenueTransactionSerializer
    queryset = RevenueAnalytics.objects.none()
    pagination_class = cursor_pagination("timestamp")
    date_field = "timestamp"
    filter_serializer_class = RevenueTransactionFilterSerializer
    csv_columns = ["timestamp", "transaction_id", "revenue_source", "amount", "currency",
                   "payment_method", "customer_id"]  # fmt: skip


for viewset, noun in [
    (UsageEventViewSet, "event"),
    (EquipmentUsageViewSet, "equipment session"),
    (InventoryRecordViewSet, "day of an item's consumption"),
    (ProjectRecordViewSet, "project (sent again, it replaces the stored one)"),
    (RevenueTransactionViewSet, "transaction"),
]:
    create_schema, list_schema = _schemas(
        noun, viewset.filter_serializer_class, viewset.batch_key, viewset.result_serializer_class
    )
    extend_schema_view(create=create_schema, list=list_schema)(viewset)


def csv_response(rows: QuerySet, columns: list[str], *, filename: str) -> StreamingHttpResponse:
    def lines():
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(columns)
        for n, row in enumerate(rows.values_list(*columns).iterator(chunk_size=2000), start=1):
            writer.writerow([_cell(value) for value in row])
            if n % 1000 == 0:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _cell(value):
    """Text cells neutralised against spreadsheet formulas (config.csv_formulas); numbers,
    dates and JSON objects and lists (which start with `{` or `[`) are written as they are."""
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    if isinstance(value, str):
        return cell_neutralize(value)
    return value
