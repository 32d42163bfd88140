"""Analytics reports under /api/v1/analytics/reports, for admins: ask for one, list your own,
download the file. The rules live in `analytics.reports`."""

from django.http.response import HttpResponseBase
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse

from accounts.permissions import IsOrgAdmin
from analytics import reports
from analytics.models import AnalyticsReportRequest
from reporting.services.access_log import ClientInfo
from reporting.views import PRESIGNED_REDIRECT, output_file_response


@extend_schema_field(OpenApiTypes.STR)
class PlainChoiceField(serializers.ChoiceField):
    """Validated as a choice, described as a string listing the choices: an enum here would
    collide with the reporting API's `report_type` and `status` enums (drf-spectacular names
    a choice set used by several components by its hash, with a warning)."""


class ReportFiltersSerializer(serializers.Serializer):
    start_date = serializers.DateField(
        required=False, help_text="First local day; default: 29 days before end_date"
    )
    end_date = serializers.DateField(
        required=False, help_text="Last local day; default: today in the organisation's zone"
    )

    def to_internal_value(self, data):
        unknown = sorted(set(data) - set(self.fields)) if isinstance(data, dict) else []
        if unknown:
            raise serializers.ValidationError(
                {name: ["Unknown filter: start_date and end_date are known."] for name in unknown}
            )
        return super().to_internal_value(data)


class ReportRequestSerializer(serializers.Serializer):
    report_type = PlainChoiceField(
        choices=AnalyticsReportRequest.ReportType.choices,
        help_text="usage, inventory, equipment or revenue",
    )
    format = serializers.ChoiceField(choices=AnalyticsReportRequest.Format.choices)
    filters = ReportFiltersSerializer(required=False)


class ReportFiltersOutSerializer(serializers.Serializer):
    start_date = serializers.DateField()
    end_date = serializers.DateField()


class ReportLinksSerializer(serializers.Serializer):
    self = serializers.URLField(help_text="This request")
    download = serializers.URLField(help_text="The file, once status is succeeded")
    execution = serializers.URLField(help_text="The report execution behind it")


class AnalyticsReportRequestSerializer(serializers.ModelSerializer):
    report_type = serializers.CharField(
        read_only=True, help_text="usage, inventory, equipment or revenue"
    )
    filters = ReportFiltersOutSerializer()
    status = serializers.CharField(
        source="execution.status",
        read_only=True,
        help_text="The execution's: queued, running, succeeded, failed or cancelled",
    )
    progress = serializers.IntegerField(source="execution.progress", read_only=True)
    error = serializers.CharField(source="execution.error", read_only=True)
    finished_at = serializers.DateTimeField(
        source="execution.finished_at", read_only=True, allow_null=True
    )
    execution_id = serializers.IntegerField(read_only=True)
    links = serializers.SerializerMethodField()

    class Meta:
        model = AnalyticsReportRequest
        fields = [
            "id",
            "report_type",
            "format",
            "filters",
            "status",
            "progress",
            "error",
            "created_at",
            "finished_at",
            "execution_id",
            "links",
        ]
        read_only_fields = fields

    @extend_schema_field(ReportLinksSerializer)
    def get_links(self, report_request: AnalyticsReportRequest) -> dict[str, str]:
        request = self.context["request"]
        pk = report_request.pk
        return {
            "self": reverse("analytics-report-detail", args=[pk], request=request),
            "download": reverse("analytics-report-download", args=[pk], request=request),
            "execution": reverse(
                "report-execution-detail", args=[report_request.execution_id], request=request
            ),
        }


class ReportNotReadySerializer(serializers.Serializer):
    status = serializers.CharField(help_text="queued, running, failed, cancelled or expired")
    detail = serializers.CharField(help_text="What to do; for a failed report, its error")


class AnalyticsReportViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Usage, inventory, equipment and revenue reports run as report executions; each caller
    sees only the requests they made in the organisation, newest first."""

    queryset = AnalyticsReportRequest.objects.none()  # the schema's model; scoped below
    serializer_class = AnalyticsReportRequestSerializer
    permission_classes = [IsOrgAdmin]
    filter_backends: list = []

    def get_queryset(self):
        return reports.report_requests_for(
            organization=self.request.organization, user=self.request.user
        )

    @extend_schema(
        summary="Ask for an analytics report",
        description="Runs the organisation's built-in template of the type for the days in "
        "`filters` (local days; default the 30 days up to today, at most 731). Answers 202 with "
        "the request; follow `links.self` for its status and fetch `links.download` once it "
        "has succeeded.",
        request=ReportRequestSerializer,
        responses={202: AnalyticsReportRequestSerializer},
    )
    @action(detail=False, methods=["post"], url_path="request")
    def request_report(self, request: Request) -> Response:
        serializer = ReportRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        filters = serializer.validated_data.get("filters", {})
        report_request = reports.report_request(
            organization=request.organization,
            requested_by=request.user,
            report_type=serializer.validated_data["report_type"],
            output_format=serializer.validated_data["format"],
            start_date=filters.get("start_date"),
            end_date=filters.get("end_date"),
            client=ClientInfo.from_request(request),
        )
        report_request = self.get_queryset().get(pk=report_request.pk)
        body = self.get_serializer(report_request).data
        return Response(
            body, status=status.HTTP_202_ACCEPTED, headers={"Location": body["links"]["self"]}
        )

    @extend_schema(
        summary="Download an analytics report's file",
        description="The file as an attachment once the report has succeeded; 409 with its "
        "status (and, for a failed one, the error) before that.",
        responses={
            (200, "application/octet-stream"): OpenApiResponse(description="The report file"),
            302: OpenApiResponse(description=PRESIGNED_REDIRECT),
            (409, "application/json"): OpenApiResponse(
                ReportNotReadySerializer, description="Not ready, failed or cancelled"
            ),
            (410, "application/json"): OpenApiResponse(
                ReportNotReadySerializer, description="The file has expired"
            ),
        },
    )
    @action(detail=True, methods=["get"])
    def download(self, request: Request, pk=None) -> HttpResponseBase:
        output = reports.report_output_open(
            report_request=self.get_object(),
            user=request.user,
            client=ClientInfo.from_request(request),
        )
        return output_file_response(output)
