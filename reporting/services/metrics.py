"""Daily usage figures per template: runs, failures, mean and p95 duration, rows, downloads,
distinct users. Days are UTC days; computing a day again replaces its figures."""

import math
from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta

from django.db import transaction
from django.utils import timezone

from reporting.models import (
    AccessAction,
    ExecutionStatus,
    ReportAccessLog,
    ReportExecution,
    ReportUsageMetric,
)


@transaction.atomic
def usage_metrics_generate(*, day: date | None = None) -> list[ReportUsageMetric]:
    """Figures for `day` (default: yesterday, UTC) for every template used that day."""
    day = day or timezone.now().astimezone(UTC).date() - timedelta(days=1)
    start = datetime.combine(day, time.min, tzinfo=UTC)
    end = start + timedelta(days=1)
    executions = ReportExecution.objects.filter(queued_at__gte=start, queued_at__lt=end)
    downloads = ReportAccessLog.objects.filter(
        action=AccessAction.DOWNLOAD, created_at__gte=start, created_at__lt=end
    ).exclude(template=None)
    figures: dict[int, dict] = defaultdict(_empty)
    for row in executions.values(
        "template_id", "organization_id", "status", "row_count", "started_at", "finished_at",
        "requested_by_id",
    ):  # fmt: skip
        entry = figures[row["template_id"]]
        entry["organization_id"] = row["organization_id"]
        entry["runs"] += 1
        entry["failures"] += row["status"] == ExecutionStatus.FAILED
        entry["rows"] += row["row_count"]
        if row["started_at"] and row["finished_at"]:
            entry["durations"].append((row["finished_at"] - row["started_at"]).total_seconds())
        if row["requested_by_id"]:
            entry["users"].add(row["requested_by_id"])
    for row in downloads.values("template_id", "organization_id", "user_id"):
        entry = figures[row["template_id"]]
        entry["organization_id"] = row["organization_id"]
        entry["downloads"] += 1
        if row["user_id"]:
            entry["users"].add(row["user_id"])
    return [_store(template_id, day, entry) for template_id, entry in figures.items()]


def _empty() -> dict:
    return {"runs": 0, "failures": 0, "rows": 0, "downloads": 0, "durations": [], "users": set()}


def _store(template_id: int, day: date, entry: dict) -> ReportUsageMetric:
    durations = sorted(entry["durations"])
    metric, _ = ReportUsageMetric.objects.update_or_create(
        template_id=template_id,
        date=day,
        defaults={
            "organization_id": entry["organization_id"],
            "runs": entry["runs"],
            "failures": entry["failures"],
            "rows": entry["rows"],
            "downloads": entry["downloads"],
            "distinct_users": len(entry["users"]),
            "mean_duration_seconds": sum(durations) / len(durations) if durations else None,
            "p95_duration_seconds": _percentile(durations, 95),
        },
    )
    return metric


def _percentile(ordered: list[float], percent: int) -> float | None:
    """Nearest-rank percentile: the smallest value with at least `percent`% at or below it."""
    if not ordered:
        return None
    return ordered[max(0, math.ceil(percent / 100 * len(ordered)) - 1)]
