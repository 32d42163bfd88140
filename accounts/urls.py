from django.urls import path
from rest_framework.routers import SimpleRouter

from accounts.api import (
    LogoutView,
    MeViewSet,
    OrganizationViewSet,
    TokenObtainView,
    TokenRefreshRotateView,
)

router = SimpleRouter()
router.register("me", MeViewSet, basename="me")
router.register("organizations", OrganizationViewSet, basename="organization")

auth_urlpatterns = [
    path("token/", TokenObtainView.as_view(), name="token-obtain"),
    path("token/refresh/", TokenRefreshRotateView.as_view(), name="token-refresh"),
    path("logout/", LogoutView.as_view(), name="logout"),
]
