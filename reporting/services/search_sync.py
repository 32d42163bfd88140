"""Finished report executions copied to Elasticsearch, for analytics outside the product.

Contract: only when settings.ELASTICSEARCH_ENABLED; otherwise nothing is attempted. The document
id is the execution id, so syncing an execution again overwrites its one document. An execution
is marked synced (`search_synced_at`) only once Elasticsearch accepted its document; anything
else leaves it for the periodic catch-up, and no failure reaches the caller.

Documents go to monthly indices `reporting-executions-YYYY.MM` (by `finished_at`, UTC); the index
template puts each new one behind the alias `reporting-executions`. Targets Elasticsearch 8.x.
"""

import logging
from collections.abc import Iterable, Iterator
from datetime import UTC
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import transaction
from django.db.models import Prefetch
from django.utils import timezone

from delivery.models import Delivery
from reporting.models import ExecutionStatus, ReportExecution

if TYPE_CHECKING:
    from elasticsearch import Elasticsearch

log = logging.getLogger(__name__)

ALIAS = "reporting-executions"
INDEX_TEMPLATE = "reporting-executions"
INDEX_PATTERN = "reporting-executions-*"
FINISHED = (ExecutionStatus.SUCCEEDED, ExecutionStatus.FAILED, ExecutionStatus.CANCELLED)
REQUEST_TIMEOUT = 30
CHUNK_SIZE = 500

_KEYWORD, _DATE, _LONG = {"type": "keyword"}, {"type": "date"}, {"type": "long"}
_NAMED = {"properties": {"id": _LONG, "slug": _KEYWORD, "name": _KEYWORD}}
_ORGANIZATION = {"properties": {"id": _KEYWORD, "slug": _KEYWORD, "name": _KEYWORD}}  # a UUID
MAPPINGS = {
    "properties": {
        "organization": _ORGANIZATION,
        "template": _NAMED,
        "report_type": _KEYWORD,
        "trigger": _KEYWORD,
        "requested_by": _KEYWORD,
        "status": _KEYWORD,
        "queued_at": _DATE,
        "started_at": _DATE,
        "finished_at": _DATE,
        "duration_seconds": {"type": "double"},
        "row_count": _LONG,
        "formats": _KEYWORD,
        "outputs": {"properties": {"format": _KEYWORD, "size": _LONG}},
        "output_bytes": _LONG,
        "deliveries": {
            "properties": {
                "target_kind": _KEYWORD,
                "target_name": _KEYWORD,
                "status": _KEYWORD,
                "attempts": _LONG,
            }
        },
        "error": {"type": "text"},
    },
}


def search_sync_on_commit(execution: ReportExecution) -> None:
    """Queue the sync of one finished execution once its transaction commits (when enabled)."""
    if not settings.ELASTICSEARCH_ENABLED:
        return
    from reporting.tasks import sync_report_data_to_elasticsearch

    # robust: a broker that is down is logged; the catch-up picks the execution up later.
    transaction.on_commit(
        lambda: sync_report_data_to_elasticsearch.delay(execution.pk), robust=True
    )


def executions_sync(*, execution_ids: Iterable[int] | None = None, limit: int = 500) -> int:
    """Index finished executions not yet synced (or the given ones); returns how many were."""
    if not settings.ELASTICSEARCH_ENABLED:
        return 0
    executions = _executions_to_sync(execution_ids, limit)
    if not executions:
        return 0
    from elasticsearch import ApiError, Elasticsearch, TransportError

    client = Elasticsearch(settings.ELASTICSEARCH_URL, request_timeout=REQUEST_TIMEOUT)
    try:
        index_template_put(client)
        synced = _bulk_index(client, executions)
    except (ApiError, TransportError) as error:
        log.warning("Elasticsearch sync of %d executions failed: %s", len(executions), error)
        return 0
    finally:
        client.close()
    ReportExecution.objects.filter(pk__in=synced).update(search_synced_at=timezone.now())
    return len(synced)


def index_template_put(client: "Elasticsearch") -> None:
    """Idempotent: each monthly index created after it gets the mappings and the alias."""
    client.indices.put_index_template(
        name=INDEX_TEMPLATE,
        index_patterns=[INDEX_PATTERN],
        template={"mappings": MAPPINGS, "aliases": {ALIAS: {}}},
        meta={"description": "Reporting Hub report executions"},
    )


def index_name(execution: ReportExecution) -> str:
    moment = execution.finished_at or execution.queued_at
    return f"{ALIAS}-{moment.astimezone(UTC):%Y.%m}"


def _executions_to_sync(execution_ids: Iterable[int] | None, limit: int) -> list[ReportExecution]:
    executions = ReportExecution.objects.filter(status__in=FINISHED)
    if execution_ids is None:
        executions = executions.filter(search_synced_at=None)
    else:
        executions = executions.filter(pk__in=list(execution_ids))
    deliveries = Delivery.objects.select_related("target").order_by("id")
    return list(
        executions.select_related("organization", "template", "requested_by")
        .prefetch_related("outputs", Prefetch("deliveries", queryset=deliveries))
        .order_by("id")[:limit]
    )


def _bulk_index(client: "Elasticsearch", executions: list[ReportExecution]) -> list[int]:
    from elasticsearch import helpers

    synced = []
    results = helpers.streaming_bulk(
        client,
        _actions(executions),
        chunk_size=CHUNK_SIZE,
        raise_on_error=False,
        raise_on_exception=False,
    )
    for accepted, item in results:
        result = item["index"]
        if accepted:
            synced.append(int(result["_id"]))
        else:
            log.warning(
                "Elasticsearch refused execution %s: %s", result.get("_id"), result.get("error")
            )
    return synced


def _actions(executions: list[ReportExecution]) -> Iterator[dict[str, Any]]:
    for execution in executions:
        yield {
            "_op_type": "index",
            "_index": index_name(execution),
            "_id": str(execution.pk),
            "_source": execution_document(execution),
        }


def execution_document(execution: ReportExecution) -> dict[str, Any]:
    organization, template = execution.organization, execution.template
    outputs = [{"format": output.format, "size": output.size} for output in execution.outputs.all()]
    return {
        "organization": {
            "id": str(organization.pk),
            "slug": organization.slug,
            "name": organization.name,
        },
        "template": {"id": template.pk, "slug": template.slug, "name": template.name},
        "report_type": template.report_type,
        "trigger": execution.trigger,
        "requested_by": execution.requested_by.get_username() if execution.requested_by else None,
        "status": execution.status,
        "queued_at": execution.queued_at,
        "started_at": execution.started_at,
        "finished_at": execution.finished_at,
        "duration_seconds": execution.duration_seconds,
        "row_count": execution.row_count,
        "formats": execution.output_formats,
        "outputs": outputs,
        "output_bytes": sum(output["size"] for output in outputs),
        "deliveries": [
            {
                "target_kind": delivery.target.kind,
                "target_name": delivery.target.name,
                "status": delivery.status,
                "attempts": delivery.attempts,
            }
            for delivery in execution.deliveries.all()
        ],
        "error": execution.error,
    }
