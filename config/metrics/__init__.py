"""The Prometheus /metrics endpoint: what this process observed (HTTP latency, events ingested)
and what the database and the broker hold at scrape time (executions, deliveries, queues, lag)."""

from config.metrics.http import RequestLatencyMiddleware
from config.metrics.process import events_ingested_count
from config.metrics.views import metrics

__all__ = ["RequestLatencyMiddleware", "events_ingested_count", "metrics"]
