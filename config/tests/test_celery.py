from celery import Celery

from config.celery import app


def test_report_work_is_acknowledged_late_and_requeued_when_a_worker_dies():
    assert app.conf.task_acks_late is True
    assert app.conf.task_reject_on_worker_lost is True
    assert app.conf.beat_scheduler == "config.beat:DatabaseScheduler"


def test_a_worker_that_lost_its_broker_tries_to_reconnect_for_ever():
    assert app.conf.broker_connection_max_retries is None


def test_task_round_trip_through_a_real_worker_on_redis(celery_worker_process):
    client = Celery(
        "test-client",
        broker=celery_worker_process.broker_url,
        backend=celery_worker_process.broker_url,
    )
    result = client.send_task("reporting_hub.ping", queue=celery_worker_process.queue)
    assert result.get(timeout=60) == "pong"
