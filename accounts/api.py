from collections.abc import Mapping

from django.contrib.auth import get_user_model
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status, viewsets
from rest_framework.exceptions import APIException
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework_simplejwt.exceptions import InvalidToken
from rest_framework_simplejwt.views import (
    TokenBlacklistView,
    TokenObtainPairView,
    TokenRefreshView,
)

from accounts.logins import login_locked
from accounts.models import Organization
from accounts.permissions import IsOrgViewer
from accounts.schema import SingleObjectSchema
from accounts.selectors import organizations_for_user
from accounts.serializers import MeSerializer, OrganizationSerializer
from accounts.throttles import AuthAddressThrottle, AuthUsernameThrottle


class OrganizationViewSet(viewsets.ReadOnlyModelViewSet):
    """The organisations the caller can act in (their choices for X-Organization)."""

    queryset = Organization.objects.none()  # the schema's model; get_queryset() scopes it
    serializer_class = OrganizationSerializer
    permission_classes = [IsAuthenticated]
    lookup_field = "slug"
    search_fields = ["name", "slug"]

    def get_queryset(self):
        return organizations_for_user(user=self.request.user)


class MeViewSet(viewsets.ViewSet):
    """Who the caller is, which organisation this request acts in, and the caller's role."""

    permission_classes = [IsOrgViewer]
    schema = SingleObjectSchema()

    @extend_schema(responses=MeSerializer)
    def list(self, request: Request) -> Response:
        memberships = request.user.memberships.select_related("organization")
        body = {
            "user": request.user,
            "organization": request.organization,
            "role": request.role,
            "memberships": memberships,
        }
        return Response(MeSerializer(body).data)


class LoginLocked(APIException):
    status_code = status.HTTP_403_FORBIDDEN
    default_detail = (
        "This username is locked after too many wrong passwords: no password is accepted for "
        "it until an administrator unlocks it."
    )
    default_code = "login_locked"


class TokenObtainView(TokenObtainPairView):
    """An access and a refresh token for a username and password. Attempts are limited per
    address and per username; a locked username is refused whatever the password."""

    throttle_classes = [AuthAddressThrottle, AuthUsernameThrottle]

    def post(self, request: Request, *args, **kwargs) -> Response:
        username = request.data.get("username") if isinstance(request.data, Mapping) else None
        if isinstance(username, str) and login_locked(username=username):
            raise LoginLocked()
        return super().post(request, *args, **kwargs)


class TokenRefreshRotateView(TokenRefreshView):
    """A new access token and a new refresh token; the refresh token sent is used up."""

    throttle_classes = [AuthAddressThrottle]

    def post(self, request: Request, *args, **kwargs) -> Response:
        try:
            return super().post(request, *args, **kwargs)
        except get_user_model().DoesNotExist:
            raise InvalidToken("The token's user no longer exists.") from None


class LogoutView(TokenBlacklistView):
    """Ends a refresh token (blacklists it): it refreshes nothing any more."""

    throttle_classes = [AuthAddressThrottle]

    @extend_schema(responses={204: OpenApiResponse(description="The refresh token is ended.")})
    def post(self, request: Request, *args, **kwargs) -> Response:
        super().post(request, *args, **kwargs)
        return Response(status=status.HTTP_204_NO_CONTENT)
