from celery import shared_task

from accounts.models import Organization
from analytics.services import snapshots_refresh


@shared_task(name="analytics.refresh_snapshots", ignore_result=True)
def refresh_snapshots(organization_id: str | None = None) -> int:
    """Every 5 minutes and on demand: recompute the days that received data."""
    organization = Organization.objects.get(pk=organization_id) if organization_id else None
    return snapshots_refresh(organization=organization)
