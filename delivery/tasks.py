from celery import shared_task

from delivery.services import deliveries_retry_due, delivery_attempt


@shared_task(name="business_intelligence.deliver_report", acks_late=True, ignore_result=True)
def deliver_report(delivery_pk: int) -> None:
    delivery_attempt(delivery_pk=delivery_pk)


@shared_task(name="business_intelligence.retry_report_deliveries", ignore_result=True)
def retry_report_deliveries() -> None:
    """Every minute: deliveries whose next attempt is due."""
    deliveries_retry_due()
