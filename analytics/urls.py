from rest_framework.routers import SimpleRouter

from analytics.api import AnalyticsViewSet

router = SimpleRouter()
router.register("analytics", AnalyticsViewSet, basename="analytics")
