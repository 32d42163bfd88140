from celery import shared_task
from django.conf import settings

from reporting.services.executions import execution_run, executions_send
from reporting.services.metrics import usage_metrics_generate
from reporting.services.outputs import outputs_clean_expired
from reporting.services.recovery import executions_requeue_stale, executions_resend_queued
from reporting.services.schedules import schedule_run_due, schedules_catch_up
from reporting.services.search_sync import executions_sync


# The soft limit raises in the run, which ends it failed saying so; the hard one kills a stuck
# process (prefork pool only), whose lease then runs out and the run is queued again.
@shared_task(
    name="business_intelligence.process_report_execution",
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    soft_time_limit=settings.REPORT_SOFT_TIME_LIMIT,
    time_limit=settings.REPORT_TIME_LIMIT,
)
def process_report_execution(execution_id: int) -> None:
    execution_run(execution_id=execution_id)


@shared_task(name="business_intelligence.clean_old_report_outputs", ignore_result=True)
def clean_old_report_outputs() -> int:
    return outputs_clean_expired()


@shared_task(name="business_intelligence.run_scheduled_report", ignore_result=True)
def run_scheduled_report(schedule_id: int) -> None:
    schedule_run_due(schedule_id=schedule_id)


@shared_task(name="business_intelligence.check_scheduled_reports", ignore_result=True)
def check_scheduled_reports() -> None:
    """Every minute: slots that beat or the workers missed, runs whose lease expired, and
    queued executions whose message was lost."""
    schedules_catch_up()
    executions_requeue_stale()
    executions_resend_queued()


@shared_task(name="business_intelligence.generate_report_usage_metrics", ignore_result=True)
def generate_report_usage_metrics() -> int:
    """Daily: yesterday's figures per template."""
    return len(usage_metrics_generate())


@shared_task(name="business_intelligence.sync_report_data_to_elasticsearch", ignore_result=True)
def sync_report_data_to_elasticsearch(execution_id: int | None = None) -> None:
    """One finished execution when given; else (every 5 minutes) the ones not yet synced."""
    if execution_id is None:
        executions_sync()
    else:
        executions_sync(execution_ids=[execution_id])


@shared_task(name="business_intelligence.send_report_executions", ignore_result=True)
def send_report_executions(messages: list[list]) -> int:
    """A batch of queued executions' messages, published by a worker: a catch-up pass hands
    thousands over as a few of these. A batch lost half-way is sent again by the outbox."""
    return executions_send([(pk, task_id) for pk, task_id in messages], fan_out=False)
