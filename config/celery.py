import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("reporting_hub")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.task(name="reporting_hub.ping")
def ping() -> str:
    """Round-trip check for a worker: answers "pong"."""
    return "pong"
