"""The business-intelligence API: thin viewsets onto reporting's services and selectors."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse

from accounts.permissions import IsOrgAdmin, IsOrgAnalyst, IsOrgViewer
from accounts.schema import SingleObjectSchema
from delivery import selectors as delivery_selectors
from reporting import selectors
from reporting.filters import (
    ReportAccessLogFilter,
    ReportExecutionFilter,
    ReportUsageMetricFilter,
)
from reporting.models import (
    AccessAction,
    DataSource,
    ReportAccessLog,
    ReportExecution,
    ReportOutput,
    ReportSchedule,
    ReportTemplate,
    ReportUsageMetric,
    Trigger,
)
from reporting.serializers import (
    ConnectionsSerializer,
    DataSourceSerializer,
    DataSourceWriteSerializer,
    ParametersSerializer,
    PreviewSerializer,
    ReportAccessLogSerializer,
    ReportExecutionRequestSerializer,
    ReportExecutionSerializer,
    ReportOutputSerializer,
    ReportScheduleSerializer,
    ReportScheduleWriteSerializer,
    ReportTemplateSerializer,
    ReportTemplateWriteSerializer,
    ReportUsageMetricSerializer,
    TestResultSerializer,
)
from reporting.services import executions as execution_services
from reporting.services import schedules as schedule_services
from reporting.services import templates as template_services
from reporting.services.access_log import ClientInfo, access_log_record
from reporting.views import PRESIGNED_REDIRECT, output_file_response

READ_ACTIONS = ("list", "retrieve")


class OrganizationScopedMixin:
    """Permission by action: `read_permission` to read, `write_permission` for the rest."""

    read_permission = IsOrgViewer
    write_permission = IsOrgAdmin

    def get_permissions(self):
        permission = self.read_permission if self.action in READ_ACTIONS else self.write_permission
        return [permission()]

    def client(self) -> ClientInfo:
        return ClientInfo.from_request(self.request)


class DataSourceViewSet(OrganizationScopedMixin, viewsets.ModelViewSet):
    """Data sources: analysts read them, admins manage, test and preview them."""

    queryset = DataSource.objects.none()  # the schema's model; get_queryset() scopes it
    serializer_class = DataSourceSerializer
    read_permission = IsOrgAnalyst
    write_permission = IsOrgAdmin
    filterset_fields = ["source_type"]
    search_fields = ["name", "description"]

    def get_queryset(self):
        return selectors.data_sources_for(organization=self.request.organization)

    @extend_schema(request=DataSourceWriteSerializer, responses={201: DataSourceSerializer})
    def create(self, request: Request) -> Response:
        fields = self._validated(DataSourceWriteSerializer(data=request.data))
        source = template_services.data_source_create(
            organization=request.organization, created_by=request.user, **fields
        )
        return Response(DataSourceSerializer(source).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=DataSourceWriteSerializer, responses=DataSourceSerializer)
    def update(self, request: Request, pk=None, partial: bool = False) -> Response:
        serializer = DataSourceWriteSerializer(data=request.data, partial=partial)
        source = template_services.data_source_update(
            data_source=self.get_object(), **self._validated(serializer)
        )
        return Response(DataSourceSerializer(source).data)

    def perform_destroy(self, instance) -> None:
        template_services.data_source_delete(data_source=instance)

    @extend_schema(request=None, responses=TestResultSerializer)
    @action(detail=True, methods=["post"])
    def test(self, request: Request, pk=None) -> Response:
        ok, message = template_services.data_source_test(
            data_source=self.get_object(), user=request.user, client=self.client()
        )
        return Response({"ok": ok, "message": message})

    @extend_schema(request=ParametersSerializer, responses=PreviewSerializer)
    @action(detail=True, methods=["post"])
    def preview(self, request: Request, pk=None) -> Response:
        parameters = self._validated(ParametersSerializer(data=request.data))["parameters"]
        preview = template_services.data_source_preview(
            data_source=self.get_object(),
            parameters=parameters,
            user=request.user,
            client=self.client(),
        )
        return Response(preview)

    @staticmethod
    def _validated(serializer) -> dict:
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)


class ReportTemplateViewSet(OrganizationScopedMixin, viewsets.ModelViewSet):
    """Report templates: viewers see public ones; analysts and above see and edit all."""

    queryset = ReportTemplate.objects.none()  # the schema's model; get_queryset() scopes it
    serializer_class = ReportTemplateSerializer
    read_permission = IsOrgViewer
    write_permission = IsOrgAnalyst
    filterset_fields = ["report_type", "is_public"]
    search_fields = ["name", "description", "slug"]
    ordering_fields = ["name", "created_at", "updated_at"]

    def get_queryset(self):
        return selectors.templates_visible(
            organization=self.request.organization, role=self.request.role
        )

    def _write(self, request: Request, *, partial: bool) -> dict:
        serializer = ReportTemplateWriteSerializer(
            data=request.data,
            partial=partial,
            data_sources=selectors.data_sources_for(organization=request.organization),
        )
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)

    @extend_schema(request=ReportTemplateWriteSerializer, responses={201: ReportTemplateSerializer})
    def create(self, request: Request) -> Response:
        fields = self._write(request, partial=False)
        template = template_services.template_create(
            organization=request.organization,
            created_by=request.user,
            data_sources=fields.pop("data_source_ids", []),
            **fields,
        )
        return Response(ReportTemplateSerializer(template).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=ReportTemplateWriteSerializer, responses=ReportTemplateSerializer)
    def update(self, request: Request, pk=None, partial: bool = False) -> Response:
        fields = self._write(request, partial=partial)
        template = template_services.template_update(
            template=self.get_object(), data_sources=fields.pop("data_source_ids", None), **fields
        )
        return Response(ReportTemplateSerializer(template).data)

    def retrieve(self, request: Request, pk=None) -> Response:
        template = self.get_object()
        access_log_record(
            organization=request.organization,
            user=request.user,
            action=AccessAction.VIEW,
            template=template,
            client=self.client(),
        )
        return Response(ReportTemplateSerializer(template).data)

    def perform_destroy(self, instance) -> None:
        template_services.template_delete(
            template=instance, user=self.request.user, client=self.client()
        )


class ReportExecutionViewSet(
    OrganizationScopedMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Run reports and follow them. Viewers see their own executions; analysts see all."""

    queryset = ReportExecution.objects.none()  # the schema's model; get_queryset() scopes it
    serializer_class = ReportExecutionSerializer
    read_permission = write_permission = IsOrgViewer
    filterset_class = ReportExecutionFilter
    ordering_fields = ["queued_at", "finished_at", "row_count"]

    def get_queryset(self):
        request = self.request
        return selectors.executions_visible(
            organization=request.organization, user=request.user, role=request.role
        )

    @extend_schema(
        request=ReportExecutionRequestSerializer, responses={202: ReportExecutionSerializer}
    )
    def create(self, request: Request) -> Response:
        serializer = ReportExecutionRequestSerializer(
            data=request.data,
            templates=selectors.templates_visible(
                organization=request.organization, role=request.role
            ),
            targets=delivery_selectors.targets_for(organization=request.organization),
        )
        serializer.is_valid(raise_exception=True)
        execution = execution_services.execution_request(
            template=serializer.validated_data["template_id"],
            parameters=serializer.validated_data["parameters"],
            output_formats=serializer.validated_data.get("output_formats"),
            delivery_targets=serializer.validated_data.get("delivery_target_ids", []),
            requested_by=request.user,
            trigger=Trigger.API,
            client=self.client(),
        )
        return self._accepted(execution)

    def retrieve(self, request: Request, pk=None) -> Response:
        execution = self.get_object()
        access_log_record(
            organization=request.organization,
            user=request.user,
            action=AccessAction.VIEW,
            execution=execution,
            client=self.client(),
        )
        return Response(self.get_serializer(execution).data)

    @extend_schema(request=None, responses=ReportExecutionSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk=None) -> Response:
        execution = execution_services.execution_cancel(
            execution=self.get_object(), user=request.user, client=self.client()
        )
        return Response(self.get_serializer(execution).data)

    @extend_schema(request=None, responses={202: ReportExecutionSerializer})
    @action(detail=True, methods=["post"])
    def retry(self, request: Request, pk=None) -> Response:
        execution = execution_services.execution_retry(
            execution=self.get_object(), user=request.user, client=self.client()
        )
        return self._accepted(execution)

    def _accepted(self, execution) -> Response:
        execution = self.get_queryset().get(pk=execution.pk)
        location = self.reverse_action("detail", args=[execution.pk])
        return Response(
            self.get_serializer(execution).data,
            status=status.HTTP_202_ACCEPTED,
            headers={"Location": location},
        )


class ReportOutputViewSet(OrganizationScopedMixin, viewsets.ReadOnlyModelViewSet):
    """Report files; `download` streams one and records it in the access log."""

    queryset = ReportOutput.objects.none()  # the schema's model; get_queryset() scopes it
    serializer_class = ReportOutputSerializer
    read_permission = write_permission = IsOrgViewer
    filterset_fields = ["format", "execution"]

    def get_queryset(self):
        request = self.request
        return selectors.outputs_visible(
            organization=request.organization, user=request.user, role=request.role
        )

    @extend_schema(
        responses={
            (200, "application/octet-stream"): OpenApiResponse(description="The file"),
            302: OpenApiResponse(description=PRESIGNED_REDIRECT),
            410: None,
        }
    )
    @action(detail=True, methods=["get"])
    def download(self, request: Request, pk=None):
        output: ReportOutput = self.get_object()
        if output.expired_at:
            return Response(
                {"detail": f"This output expired on {output.expires_at:%Y-%m-%d} and was deleted."},
                status=status.HTTP_410_GONE,
            )
        access_log_record(
            organization=request.organization,
            user=request.user,
            action=AccessAction.DOWNLOAD,
            output=output,
            client=self.client(),
        )
        return output_file_response(output)


class ConnectionViewSet(viewsets.ViewSet):
    """The named connections the caller's organisation may use in data sources: analysts and up."""

    permission_classes = [IsOrgAnalyst]
    schema = SingleObjectSchema()

    @extend_schema(responses=ConnectionsSerializer)
    def list(self, request: Request) -> Response:
        connections = selectors.connections_for(organization=request.organization)
        return Response(ConnectionsSerializer(connections).data)


class ReportAccessLogViewSet(OrganizationScopedMixin, viewsets.ReadOnlyModelViewSet):
    """Who did what to which template, execution or output: admins only."""

    queryset = ReportAccessLog.objects.none()  # the schema's model; get_queryset() scopes it
    serializer_class = ReportAccessLogSerializer
    read_permission = write_permission = IsOrgAdmin
    filterset_class = ReportAccessLogFilter

    def get_queryset(self):
        return selectors.access_log_for(organization=self.request.organization)


class ReportScheduleViewSet(OrganizationScopedMixin, viewsets.ModelViewSet):
    """Schedules: when a template runs by itself. Analysts and above."""

    queryset = ReportSchedule.objects.none()  # the schema's model; get_queryset() scopes it
    serializer_class = ReportScheduleSerializer
    read_permission = write_permission = IsOrgAnalyst
    filterset_fields = ["enabled", "template", "catch_up"]
    search_fields = ["name"]

    def get_queryset(self):
        return selectors.schedules_for(
            organization=self.request.organization, role=self.request.role
        )

    def _write(self, request: Request, *, partial: bool) -> dict:
        serializer = ReportScheduleWriteSerializer(
            data=request.data,
            partial=partial,
            templates=selectors.templates_visible(
                organization=request.organization, role=request.role
            ),
            targets=delivery_selectors.targets_for(organization=request.organization),
        )
        serializer.is_valid(raise_exception=True)
        fields = dict(serializer.validated_data)
        fields["at"] = fields.pop("time", None)
        if "delivery_target_ids" in fields:
            fields["delivery_targets"] = fields.pop("delivery_target_ids")
        return fields

    @extend_schema(request=ReportScheduleWriteSerializer, responses={201: ReportScheduleSerializer})
    def create(self, request: Request) -> Response:
        fields = self._write(request, partial=False)
        schedule = schedule_services.schedule_create(
            organization=request.organization,
            owner=request.user,
            template=fields.pop("template_id"),
            **fields,
        )
        return Response(ReportScheduleSerializer(schedule).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=ReportScheduleWriteSerializer, responses=ReportScheduleSerializer)
    def update(self, request: Request, pk=None, partial: bool = False) -> Response:
        fields = self._write(request, partial=partial)
        schedule = schedule_services.schedule_update(
            schedule=self.get_object(), template=fields.pop("template_id", None), **fields
        )
        return Response(ReportScheduleSerializer(schedule).data)

    def perform_destroy(self, instance) -> None:
        schedule_services.schedule_delete(schedule=instance)

    @extend_schema(request=None, responses={202: ReportExecutionSerializer})
    @action(detail=True, methods=["post"], url_path="run-now")
    def run_now(self, request: Request, pk=None) -> Response:
        execution = schedule_services.schedule_run_now(
            schedule=self.get_object(), user=request.user, client=self.client()
        )
        location = reverse("report-execution-detail", args=[execution.pk], request=request)
        body = ReportExecutionSerializer(execution, context={"request": request}).data
        return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": location})

    @extend_schema(responses=ReportExecutionSerializer(many=True))
    @action(detail=True, methods=["get"])
    def executions(self, request: Request, pk=None) -> Response:
        executions = (
            self.get_object().executions.select_related("template").prefetch_related("outputs")
        )
        page = self.paginate_queryset(executions)
        serializer = ReportExecutionSerializer(page, many=True, context={"request": request})
        return self.get_paginated_response(serializer.data)


class ReportUsageMetricViewSet(OrganizationScopedMixin, viewsets.ReadOnlyModelViewSet):
    """Daily figures per template (UTC days): runs, failures, durations, rows, downloads, users."""

    queryset = ReportUsageMetric.objects.none()  # the schema's model; get_queryset() scopes it
    serializer_class = ReportUsageMetricSerializer
    read_permission = write_permission = IsOrgAnalyst
    filterset_class = ReportUsageMetricFilter

    def get_queryset(self):
        return selectors.usage_metrics_for(
            organization=self.request.organization, role=self.request.role
        )
