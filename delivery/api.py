from drf_spectacular.utils import extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.permissions import IsOrgAdmin
from delivery import selectors, services
from delivery.models import Delivery, DeliveryTarget
from delivery.serializers import (
    DeliverySerializer,
    DeliveryTargetSerializer,
    DeliveryTargetWriteSerializer,
)
from reporting.serializers import TestResultSerializer


class DeliveryTargetViewSet(viewsets.ModelViewSet):
    """Where reports go: e-mail, file storage or a signed webhook. Admins only.

    A local storage target writes only inside its organisation's own folder,
    `<root>/<organisation id>/` (root: the first of `DELIVERY_STORAGE_ROOTS`, by default
    `var/deliveries`): `"path": "monthly"` files reports under `<root>/<organisation id>/monthly/`.
    A path outside that folder is a 400 naming `config` → `path`.
    """

    queryset = DeliveryTarget.objects.none()  # the schema's model; get_queryset() scopes it
    serializer_class = DeliveryTargetSerializer
    permission_classes = [IsOrgAdmin]
    filterset_fields = ["kind", "enabled"]
    search_fields = ["name"]

    def get_queryset(self):
        return selectors.targets_for(organization=self.request.organization)

    def _validated(self, request: Request, *, partial: bool) -> dict:
        serializer = DeliveryTargetWriteSerializer(data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)

    @extend_schema(request=DeliveryTargetWriteSerializer, responses={201: DeliveryTargetSerializer})
    def create(self, request: Request) -> Response:
        target = services.target_create(
            organization=request.organization,
            created_by=request.user,
            **self._validated(request, partial=False),
        )
        return Response(DeliveryTargetSerializer(target).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=DeliveryTargetWriteSerializer, responses=DeliveryTargetSerializer)
    def update(self, request: Request, pk=None, partial: bool = False) -> Response:
        target = services.target_update(
            target=self.get_object(), **self._validated(request, partial=partial)
        )
        return Response(DeliveryTargetSerializer(target).data)

    @extend_schema(request=None, responses=TestResultSerializer)
    @action(detail=True, methods=["post"])
    def test(self, request: Request, pk=None) -> Response:
        ok, message = services.target_test(target=self.get_object())
        return Response({"ok": ok, "message": message})


class DeliveryViewSet(viewsets.ReadOnlyModelViewSet):
    """Each execution's deliveries with their attempts; `redeliver` tries again. Admins only."""

    queryset = Delivery.objects.none()  # the schema's model; get_queryset() scopes it
    serializer_class = DeliverySerializer
    permission_classes = [IsOrgAdmin]
    filterset_fields = ["execution", "status", "target"]

    def get_queryset(self):
        return selectors.deliveries_for(organization=self.request.organization)

    @extend_schema(request=None, responses=DeliverySerializer)
    @action(detail=True, methods=["post"])
    def redeliver(self, request: Request, pk=None) -> Response:
        delivery = services.delivery_redeliver(delivery=self.get_object())
        return Response(DeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)
