import inspect

from celery import Celery

from config.celery import app

# Each task's queue, by what it does (README "Production layout"). A task missing here fails
# test_each_task_lands_on_the_queue_of_its_kind: give it a route in CELERY_TASK_ROUTES and a line.
QUEUE_OF_TASK = {
    "business_intelligence.process_report_execution": "reports",
    "business_intelligence.deliver_report": "deliveries",
    "business_intelligence.send_report_summary_notification": "deliveries",
    "analytics.refresh_snapshots": "analytics",
    "analytics.refresh_answer": "analytics",
    "analytics.fold_live_counters": "analytics",
    "business_intelligence.sync_report_data_to_elasticsearch": "analytics",
    "business_intelligence.check_scheduled_reports": "maintenance",
    "business_intelligence.run_scheduled_report": "maintenance",
    "business_intelligence.send_report_executions": "maintenance",
    "business_intelligence.retry_report_deliveries": "maintenance",
    "business_intelligence.clean_old_report_outputs": "maintenance",
    "business_intelligence.generate_report_usage_metrics": "maintenance",
    "analytics.purge_old_events": "maintenance",
    "analytics.ensure_event_partitions": "maintenance",
    "reporting_hub.ping": "maintenance",
}
QUEUES = ["reports", "deliveries", "analytics", "maintenance"]


def test_report_work_is_acknowledged_late_and_requeued_when_a_worker_dies():
    assert app.conf.task_acks_late is True
    assert app.conf.task_reject_on_worker_lost is True
    assert app.conf.worker_prefetch_multiplier == 1
    assert app.conf.beat_scheduler == "config.beat:DatabaseScheduler"


def test_a_worker_that_lost_its_broker_tries_to_reconnect_for_ever():
    assert app.conf.broker_connection_max_retries is None


def test_a_worker_started_without_queues_consumes_every_queue():
    assert list(app.amqp.queues.consume_from) == QUEUES
    assert app.conf.task_default_queue in QUEUES


def test_renders_have_a_soft_and_a_hard_time_limit(settings):
    from reporting.tasks import process_report_execution as task

    assert task.soft_time_limit == settings.REPORT_SOFT_TIME_LIMIT
    assert task.time_limit == settings.REPORT_TIME_LIMIT > task.soft_time_limit


def project_tasks() -> dict:
    """Every task of the project: each installed app's tasks module, as a worker imports them."""
    app.loader.import_default_modules()
    return {name: task for name, task in app.tasks.items() if not name.startswith("celery.")}


def queued_task_ids(timeout: float = 1) -> dict[str, str]:
    """Task id → queue of every message waiting on the four queues, taken off them."""
    found = {}
    with app.connection_for_read() as connection:
        for name in QUEUES:
            with connection.SimpleQueue(app.amqp.queues[name]) as queue:
                while True:
                    try:
                        message = queue.get(timeout=timeout)
                    except queue.Empty:
                        break
                    found[message.headers["id"]] = name
                    message.ack()
    return found


def test_each_task_lands_on_the_queue_of_its_kind():
    tasks = project_tasks()
    assert sorted(tasks) == sorted(QUEUE_OF_TASK), "a task without a queue here, or one gone"
    sent = {}
    for name, task in tasks.items():
        required = [
            p
            for p in inspect.signature(task.run).parameters.values()
            if p.default is p.empty and p.kind is p.POSITIONAL_OR_KEYWORD
        ]
        sent[task.apply_async(args=[0] * len(required)).id] = name  # never run: read back
    landed = queued_task_ids()
    assert {name: landed.get(task_id) for task_id, name in sent.items()} == QUEUE_OF_TASK


def test_task_round_trip_through_a_real_worker_on_redis(celery_worker_process):
    client = Celery(
        "test-client",
        broker=celery_worker_process.broker_url,
        backend=celery_worker_process.broker_url,
    )
    result = client.send_task("reporting_hub.ping", queue=celery_worker_process.queue)
    assert result.get(timeout=60) == "pong"
