from rest_framework.routers import SimpleRouter

from accounts.api import MeViewSet, OrganizationViewSet

router = SimpleRouter()
router.register("me", MeViewSet, basename="me")
router.register("organizations", OrganizationViewSet, basename="organization")
