from datetime import datetime

from django.db.models import Count, QuerySet

from accounts.models import Organization
from delivery.models import Delivery, DeliveryStatus, DeliveryTarget


def targets_for(*, organization: Organization) -> QuerySet[DeliveryTarget]:
    return DeliveryTarget.objects.filter(organization=organization)


def deliveries_for(*, organization: Organization) -> QuerySet[Delivery]:
    return (
        Delivery.objects.filter(target__organization=organization)
        .select_related("target")
        .prefetch_related("attempt_history")
    )


def deliveries_failed_since(
    *, organizations: QuerySet[Organization], since: datetime
) -> QuerySet[Delivery]:
    """Deliveries of the organisations that gave up, created since `since`, newest first."""
    return (
        Delivery.objects.filter(
            target__organization__in=organizations,
            status=DeliveryStatus.FAILED,
            created_at__gte=since,
        )
        .order_by("-created_at", "-pk")
        .select_related("target__organization", "execution__template")
    )


def deliveries_created_counts(*, since: datetime) -> dict[str, int]:
    """Every organisation's deliveries created since `since`, by their status now."""
    counts = dict.fromkeys(DeliveryStatus.values, 0)
    rows = Delivery.objects.filter(created_at__gte=since).order_by().values_list("status")
    counts.update(rows.annotate(count=Count("*")))
    return counts


def deliveries_pending_count() -> int:
    """Every organisation's deliveries still to be sent or retried, however old."""
    return Delivery.objects.filter(status=DeliveryStatus.PENDING).count()
