from celery import shared_task
from django.conf import settings

from delivery.services import deliveries_retry_due, delivery_attempt
from delivery.summary import summary_send_daily


# The limits keep an attempt inside its lease (DELIVERY_LEASE_SECONDS): the soft one raises in
# the attempt, which records it as failed and due again; the hard one kills a stuck process.
@shared_task(
    name="business_intelligence.deliver_report",
    acks_late=True,
    ignore_result=True,
    soft_time_limit=settings.DELIVERY_LEASE_SECONDS - 120,
    time_limit=settings.DELIVERY_LEASE_SECONDS - 60,
)
def deliver_report(delivery_pk: int) -> None:
    delivery_attempt(delivery_pk=delivery_pk)


@shared_task(name="business_intelligence.retry_report_deliveries", ignore_result=True)
def retry_report_deliveries() -> None:
    """Every minute: deliveries whose next attempt is due, including those whose message was
    lost (broker down at send) or whose worker died (once its lease runs out)."""
    deliveries_retry_due()


@shared_task(name="business_intelligence.send_report_summary_notification", ignore_result=True)
def send_report_summary_notification() -> int:
    """Daily: each organisation's admins get the last 24 hours of reports."""
    return summary_send_daily()
