"""What the database and the broker hold, read at each scrape.

Counts read at scrape time are right whichever process or host did the work (web, any Celery
worker). Each scrape costs a few indexed queries whose rows do not grow with history (what is
queued, running or pending now, and what ended in the last WINDOW, at most DURATION_LIMIT
durations), one aggregate over the dirty days, and one size question per queue on one broker
connection. Counting every execution ever by status would grow with the table (80 ms at
500,000 rows on PostgreSQL, even from an index), hence the window. A database or broker that
does not answer gives `reporting_hub_database_up 0` or `reporting_hub_broker_up 0` and leaves
its metrics out, never a failed scrape.
"""

import logging
from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

from django.utils import timezone
from prometheus_client.core import GaugeHistogramMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from analytics.selectors import dirty_days_summary, live_counts_pending
from config.celery import app as celery_app
from config.metrics.queues import queue_depths
from delivery.selectors import deliveries_created_counts, deliveries_pending_count
from reporting.selectors import (
    execution_durations_finished,
    executions_active_counts,
    executions_finished_counts,
)

logger = logging.getLogger(__name__)

WINDOW = timedelta(hours=1)
DURATION_LIMIT = 10_000
DURATION_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, float("inf"))


class ServiceCollector:
    def collect(self) -> Iterator[Metric]:
        yield from _guarded("database", _database_metrics)
        yield from _guarded("broker", _broker_metrics)


def _guarded(service: str, read: Callable[[], list[Metric]]) -> list[Metric]:
    up = GaugeMetricFamily(
        f"reporting_hub_{service}_up", f"1 when the {service} answered this scrape, else 0."
    )
    try:
        metrics = read()
    except Exception as exc:  # any failure of the service only leaves its metrics out
        logger.warning("/metrics: the %s did not answer: %s: %s", service, type(exc).__name__, exc)
        up.add_metric([], 0)
        return [up]
    up.add_metric([], 1)
    return [up, *metrics]


def _database_metrics() -> list[Metric]:
    since = timezone.now() - WINDOW
    return [
        _by_status("reporting_hub_executions", "Report executions queued or running now.",
                   executions_active_counts()),
        _by_status("reporting_hub_executions_finished",
                   "Report executions that ended in the last hour, by how they ended.",
                   executions_finished_counts(since=since)),
        _durations(since=since),
        _by_status("reporting_hub_deliveries",
                   "Deliveries created in the last hour, by their status now.",
                   deliveries_created_counts(since=since)),
        _gauge("reporting_hub_deliveries_pending",
               "Deliveries waiting to be sent or retried, however old.",
               deliveries_pending_count()),
        *_rollup_lag(),
    ]  # fmt: skip


def _by_status(name: str, documentation: str, counts: dict[str, int]) -> Metric:
    family = GaugeMetricFamily(name, documentation, labels=["status"])
    for status, count in counts.items():
        family.add_metric([status], count)
    return family


def _gauge(name: str, documentation: str, value: float) -> Metric:
    return GaugeMetricFamily(name, documentation, value=value)


def _durations(*, since: datetime) -> Metric:
    """A gauge histogram of the last hour's succeeded runs, read from the database: the worker
    that ran them may be on another host, and an in-process histogram there would need an
    exporter per worker. A run with several formats counts once under each of them."""
    by_format: dict[str, list[float]] = defaultdict(list)
    for formats, seconds in execution_durations_finished(since=since, limit=DURATION_LIMIT):
        for output_format in formats:
            by_format[output_format].append(seconds)
    family = GaugeHistogramMetricFamily(
        "reporting_hub_execution_duration_seconds",
        "Run time (start to end) of the report executions that succeeded in the last hour, "
        "by output format.",
        labels=["format"],
    )
    for output_format, durations in sorted(by_format.items()):
        buckets = [
            (_bound(bound), float(sum(1 for d in durations if d <= bound)))
            for bound in DURATION_BUCKETS
        ]
        family.add_metric([output_format], buckets, sum(durations))
    return family


def _bound(bound: float) -> str:
    return "+Inf" if bound == float("inf") else str(bound)


def _rollup_lag() -> list[Metric]:
    count, oldest = dirty_days_summary()
    lag = (timezone.now() - oldest).total_seconds() if oldest else 0.0
    return [
        _gauge("reporting_hub_rollup_dirty_days",
               "Organisation days whose analytics roll-ups wait to be computed again.", count),
        _gauge("reporting_hub_rollup_lag_seconds",
               "Age of the oldest data that waits for its analytics roll-up (0 when none waits).",
               lag),
        _gauge("reporting_hub_live_counts_pending",
               "Ingested batches whose live dashboard counts wait for their fold.",
               live_counts_pending()),
    ]  # fmt: skip


def _broker_metrics() -> list[Metric]:
    family = GaugeMetricFamily(
        "reporting_hub_queue_messages", "Messages waiting in each Celery queue.", labels=["queue"]
    )
    for queue, depth in queue_depths(celery_app).items():
        family.add_metric([queue], depth)
    return [family]
