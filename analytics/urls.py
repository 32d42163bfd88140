from rest_framework.routers import SimpleRouter

from analytics.api import AnalyticsViewSet
from analytics.reports_api import AnalyticsReportViewSet

router = SimpleRouter()
router.register("analytics/reports", AnalyticsReportViewSet, basename="analytics-report")
router.register("analytics", AnalyticsViewSet, basename="analytics")
