"""Usage events under /api/v1/analytics/: ingestion by any member, reading by admins."""

import csv
import io
import json

from django.http import StreamingHttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.pagination import CursorPagination
from rest_framework.renderers import BaseRenderer, BrowsableAPIRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.permissions import IsOrgAdmin, IsOrgViewer
from events import selectors, services
from events.models import UsageEvent

CSV_COLUMNS = ["timestamp", "user_id", "event_type", "event_category", "event_id", "metadata"]


class UsageEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = UsageEvent
        fields = ["id", "event_id", "user_id", "event_type", "event_category", "metadata",
                  "timestamp", "received_at"]  # fmt: skip


class EventFilterSerializer(serializers.Serializer):
    start_date = serializers.DateField(required=False)
    end_date = serializers.DateField(required=False)
    event_type = serializers.CharField(required=False)
    event_category = serializers.CharField(required=False)
    user_id = serializers.CharField(required=False)


class IngestResultSerializer(serializers.Serializer):
    stored = serializers.IntegerField()
    duplicates = serializers.IntegerField()


class EventCursorPagination(CursorPagination):
    """Keyset pages on (timestamp, id): as fast on page 10,000 as on page 1."""

    ordering = ("-timestamp", "-id")
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000


class CSVRenderer(BaseRenderer):
    """Lets `?format=csv` through content negotiation; the view streams the file itself."""

    media_type = "text/csv"
    format = "csv"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data


class UsageEventViewSet(viewsets.GenericViewSet):
    serializer_class = UsageEventSerializer
    queryset = UsageEvent.objects.none()  # the schema's model; list() scopes it
    pagination_class = EventCursorPagination
    renderer_classes = [JSONRenderer, BrowsableAPIRenderer, CSVRenderer]
    filter_backends = []

    def get_permissions(self):
        return [IsOrgAdmin() if self.action == "list" else IsOrgViewer()]

    @extend_schema(
        request={"application/json": {"type": "object"}},
        responses={201: IngestResultSerializer},
        description='One event (the analytics description\'s body), or {"events": [...]} for '
        "a batch of up to ANALYTICS_BATCH_SIZE; a batch is stored whole or not at all.",
    )
    def create(self, request: Request) -> Response:
        body = request.data
        events = body.get("events") if isinstance(body, dict) and "events" in body else [body]
        if not isinstance(events, list):
            raise serializers.ValidationError({"events": ["A list of events."]})
        result = services.events_ingest(
            organization=request.organization, events=events, default_user_id=str(request.user.pk)
        )
        return Response(IngestResultSerializer(result).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        parameters=[EventFilterSerializer, OpenApiParameter("format", enum=["json", "csv"])]
    )
    def list(self, request: Request):
        filters = EventFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        events = selectors.events_for(organization=request.organization, **filters.validated_data)
        if request.accepted_renderer.format == "csv":
            return _csv_response(events)
        page = self.paginate_queryset(events)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)


def _csv_response(events) -> StreamingHttpResponse:
    def lines():
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        rows = events.order_by("timestamp", "id").values_list(*CSV_COLUMNS)
        for n, row in enumerate(rows.iterator(chunk_size=2000), start=1):
            writer.writerow([*row[:-1], _json(row[-1])])
            if n % 1000 == 0:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="events.csv"'
    return response


def _json(value) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)
