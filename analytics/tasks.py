from celery import shared_task

from accounts.models import Organization
from analytics.counters import counters_fold
from analytics.selectors import answer_refresh
from analytics.services import snapshots_refresh


@shared_task(name="analytics.refresh_snapshots", ignore_result=True)
def refresh_snapshots(organization_id: str | None = None) -> int:
    """Every 5 minutes and on demand: recompute the days that received data."""
    organization = Organization.objects.get(pk=organization_id) if organization_id else None
    return snapshots_refresh(organization=organization)


@shared_task(name="analytics.refresh_answer", ignore_result=True)
def refresh_answer(organization_id: str, name: str, query: dict[str, str]) -> None:
    """A stale cached answer was served: compute it again in the background."""
    organization = Organization.objects.filter(pk=organization_id).first()
    if organization is not None:
        answer_refresh(organization=organization, name=name, query=query)


@shared_task(name="analytics.fold_live_counters", ignore_result=True)
def fold_live_counters(organization_id: str) -> int:
    """A couple of seconds after a batch: add the pending live counts to the counters."""
    organization = Organization.objects.filter(pk=organization_id).first()
    return counters_fold(organization=organization) if organization is not None else 0
