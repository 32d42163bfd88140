"""Metrics observed inside this process: only what happens in the web process itself.

gunicorn runs several worker processes and a scrape reaches one of them, so these are kept in
prometheus-client's multiprocess mode whenever PROMETHEUS_MULTIPROC_DIR is set (config/gunicorn.py
sets it for the web server): each process writes its values to a file there and the scrape adds
them up. Everything that other processes (Celery workers, other hosts) change is read from the
database or the broker at scrape time instead (config/metrics/collectors.py), so it is the same
whichever web process, on whichever host, answers.
"""

import os

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.multiprocess import MultiProcessCollector

REGISTRY = CollectorRegistry()

HTTP_REQUEST_DURATION = Histogram(
    "reporting_hub_http_request_duration_seconds",
    "Time to answer an HTTP request, by URL pattern name, method and status class.",
    ["route", "method", "status"],
    registry=REGISTRY,
)
EVENTS_INGESTED = Counter(
    "reporting_hub_events_ingested",
    "Usage events and fact records stored by ingestion in this service's web processes.",
    ["table"],
    registry=REGISTRY,
)


def events_ingested_count(*, table: str, count: int) -> None:
    if count:
        EVENTS_INGESTED.labels(table=table).inc(count)


def process_collector() -> CollectorRegistry:
    """This host's web processes' metrics: summed over their files in multiprocess mode."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not directory:
        return REGISTRY
    summed = CollectorRegistry()
    MultiProcessCollector(summed, path=directory)
    return summed
