import os

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("reporting_hub")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.task(name="reporting_hub.ping")
def ping() -> str:
    """Round-trip check for a worker: answers "pong"."""
    return "pong"


@signals.after_setup_logger.connect
@signals.after_setup_task_logger.connect
def _json_worker_logs(logger, **kwargs) -> None:
    """Celery sets up its own log handlers in workers and beat: with LOG_FORMAT=json they
    write JSON lines too, as the web does."""
    from django.conf import settings

    if settings.LOG_FORMAT == "json":
        from config.logs import JsonFormatter

        for handler in logger.handlers:
            handler.setFormatter(JsonFormatter())
