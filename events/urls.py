from rest_framework.routers import SimpleRouter

from events.api import UsageEventViewSet

router = SimpleRouter()
router.register("analytics/events", UsageEventViewSet, basename="usage-event")
