from rest_framework.routers import SimpleRouter

from delivery import api

PREFIX = "business-intelligence"

router = SimpleRouter()
router.register(f"{PREFIX}/delivery-targets", api.DeliveryTargetViewSet, basename="delivery-target")
router.register(f"{PREFIX}/deliveries", api.DeliveryViewSet, basename="delivery")
