from django.db.models import QuerySet

from accounts.models import Organization
from delivery.models import Delivery, DeliveryTarget


def targets_for(*, organization: Organization) -> QuerySet[DeliveryTarget]:
    return DeliveryTarget.objects.filter(organization=organization)


def deliveries_for(*, organization: Organization) -> QuerySet[Delivery]:
    return (
        Delivery.objects.filter(target__organization=organization)
        .select_related("target")
        .prefetch_related("attempt_history")
    )
