from rest_framework.routers import SimpleRouter

from reporting import api

PREFIX = "business-intelligence"

router = SimpleRouter()
router.register(f"{PREFIX}/data-sources", api.DataSourceViewSet, basename="data-source")
router.register(f"{PREFIX}/connections", api.ConnectionViewSet, basename="connection")
router.register(f"{PREFIX}/report-templates", api.ReportTemplateViewSet, basename="report-template")
router.register(
    f"{PREFIX}/report-executions", api.ReportExecutionViewSet, basename="report-execution"
)
router.register(f"{PREFIX}/report-outputs", api.ReportOutputViewSet, basename="report-output")
router.register(
    f"{PREFIX}/scheduled-reports", api.ReportScheduleViewSet, basename="report-schedule"
)
router.register(
    f"{PREFIX}/usage-metrics", api.ReportUsageMetricViewSet, basename="report-usage-metric"
)
router.register(f"{PREFIX}/audit-log", api.ReportAccessLogViewSet, basename="report-access-log")
