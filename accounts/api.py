from drf_spectacular.utils import extend_schema
from rest_framework import viewsets
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.models import Organization
from accounts.permissions import IsOrgViewer
from accounts.selectors import organizations_for_user
from accounts.serializers import MeSerializer, OrganizationSerializer


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
