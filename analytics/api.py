"""Analytics answers under /api/v1/analytics/ for admins: `usage` and `overview`."""

from datetime import timedelta

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.permissions import IsOrgAdmin
from analytics import selectors
from analytics.selectors import PERIODS

DEFAULT_RANGE_DAYS = 30
MAX_RANGE_DAYS = 731


class RangeQuerySerializer(serializers.Serializer):
    start_date = serializers.DateField(
        required=False, help_text="First local day; default: 29 days before end_date"
    )
    end_date = serializers.DateField(required=False, help_text="Last local day; default: today")

    def validate(self, attrs):
        today = selectors.organization_today(self.context["organization"])
        end = attrs.get("end_date") or today
        start = attrs.get("start_date") or end - timedelta(days=DEFAULT_RANGE_DAYS - 1)
        if start > end:
            raise serializers.ValidationError({"start_date": "Not after end_date."})
        if (end - start).days >= MAX_RANGE_DAYS:
            raise serializers.ValidationError(
                {"start_date": f"A range holds at most {MAX_RANGE_DAYS} days."}
            )
        return {**attrs, "start_date": start, "end_date": end}


class UsageQuerySerializer(RangeQuerySerializer):
    period = serializers.ChoiceField(choices=PERIODS, default="daily")


def _counts(help_text: str) -> serializers.DictField:
    return serializers.DictField(child=serializers.IntegerField(), help_text=help_text)


class UsageTotalsSerializer(serializers.Serializer):
    events = serializers.IntegerField()
    logins = serializers.IntegerField()
    active_users = serializers.IntegerField(help_text="Distinct users over the whole range")


class UsagePeriodSerializer(serializers.Serializer):
    period_start = serializers.DateField(help_text="The day, the week's Monday or the month's 1st")
    events = serializers.IntegerField()
    active_users = serializers.IntegerField(help_text="Distinct users in the period")
    logins = serializers.IntegerField()
    events_by_type = _counts("Events by event_type")
    events_by_category = _counts("Events by event_category")


class PeakHourSerializer(serializers.Serializer):
    hour = serializers.IntegerField(min_value=0, max_value=23, help_text="Local hour of the day")
    events = serializers.IntegerField()


class UsageSerializer(serializers.Serializer):
    start_date = serializers.DateField()
    end_date = serializers.DateField()
    period = serializers.ChoiceField(choices=PERIODS)
    time_zone = serializers.CharField()
    totals = UsageTotalsSerializer()
    events_by_type = _counts("Events by event_type over the range")
    events_by_category = _counts("Events by event_category over the range")
    peak_hours = PeakHourSerializer(many=True, help_text="24 rows, hours 0 to 23")
    peak_hour = serializers.IntegerField(allow_null=True, help_text="The busiest local hour")
    series = UsagePeriodSerializer(many=True, help_text="Periods clipped to the range")
    computed_at = serializers.DateTimeField()


class TopEventTypeSerializer(serializers.Serializer):
    event_type = serializers.CharField()
    events = serializers.IntegerField()


class OverviewSerializer(serializers.Serializer):
    start_date = serializers.DateField()
    end_date = serializers.DateField()
    time_zone = serializers.CharField()
    total_events = serializers.IntegerField()
    active_users = serializers.IntegerField()
    events_today = serializers.IntegerField()
    top_event_type = TopEventTypeSerializer(allow_null=True)
    computed_at = serializers.DateTimeField()


class AnalyticsViewSet(viewsets.ViewSet):
    """Answers come from daily snapshots plus today's raw events, cached per organisation and
    query for ANALYTICS_CACHE_TTL seconds; new data makes them stale at once."""

    permission_classes = [IsOrgAdmin]

    def _query(self, request: Request, serializer_class: type[serializers.Serializer]) -> dict:
        query = serializer_class(
            data=request.query_params, context={"organization": request.organization}
        )
        query.is_valid(raise_exception=True)
        return query.validated_data

    @extend_schema(parameters=[UsageQuerySerializer], responses=UsageSerializer)
    @action(detail=False, methods=["get"])
    def usage(self, request: Request) -> Response:
        query = self._query(request, UsageQuerySerializer)
        return Response(selectors.usage_get(organization=request.organization, **query))

    @extend_schema(parameters=[RangeQuerySerializer], responses=OverviewSerializer)
    @action(detail=False, methods=["get"])
    def overview(self, request: Request) -> Response:
        query = self._query(request, RangeQuerySerializer)
        return Response(selectors.overview_get(organization=request.organization, **query))
