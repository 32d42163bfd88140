"""Report executions: request one, run it under a lease, cancel it, retry it.

Sending to the broker is an outbox: the execution is stored `queued` first and its message is
sent once the transaction commits; a broker that is down is logged, never raised, and the
every-minute check sends what is still queued again (reporting.services.recovery). Receiving a
message twice is harmless: only one worker can claim the run (reporting.services.leases).
"""

import base64
import hashlib
import logging
import mimetypes
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg2
import psycopg2.errors
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.files import File
from django.core.files.storage import Storage
from django.db import DatabaseError, transaction
from django.http import Http404
from django.utils import timezone

from accounts.models import Organization
from config.errors import ConflictError
from delivery.models import DeliveryTarget
from delivery.services import (
    deliveries_plan,
    deliveries_settle,
    deliveries_start,
    targets_validate,
)
from reporting.datasources import get_adapter
from reporting.datasources.base import DataSourceError
from reporting.models import (
    AccessAction,
    ExecutionStatus,
    ReportExecution,
    ReportOutput,
    ReportSchedule,
    ReportTemplate,
    Trigger,
    report_storage,
)
from reporting.parameters import parameters_validate
from reporting.renderers import get_renderer
from reporting.selectors import template_runnable
from reporting.services.access_log import ClientInfo, access_log_record
from reporting.services.leases import Heartbeat, Lease, lease_claim
from reporting.services.search_sync import search_sync_on_commit
from reporting.services.templates import layout_source, output_formats_normalize, table_names
from reporting.storage import storage_errors
from reporting.tables import Branding, Chart, ReportDocument, SpooledTable

log = logging.getLogger(__name__)

SPOOL_SHARE = 20  # percent of the progress bar given to fetching the data
PROGRESS_SAVE_INTERVAL = 0.5  # seconds between progress writes
BROKER_PAUSE = 5.0  # seconds without sending after the broker refused a message
FAN_OUT_BATCH = 500  # messages per batch a worker publishes, when more are sent at once
_broker_down_until = 0.0


class ExecutionError(Exception):
    """A failure with a message fit for the person who asked for the report."""


class ExecutionCancelled(Exception):
    """This attempt lost its lease: the execution was cancelled, or another attempt took over."""


@transaction.atomic
def execution_request(
    *,
    template: ReportTemplate,
    parameters: dict[str, Any],
    requested_by: AbstractBaseUser | None,
    trigger: str,
    output_formats: list[str] | None = None,
    retry_of: ReportExecution | None = None,
    schedule: ReportSchedule | None = None,
    delivery_targets: Sequence[DeliveryTarget] = (),
    client: ClientInfo | None = None,
    enqueue: bool = True,
) -> ReportExecution:
    """Validate and store an execution; it is queued once the transaction commits.

    `enqueue=False` leaves it for the caller to run in-process (the run_report command).
    Every door a person runs a report through (the API, a schedule's run now, a retry, the
    admin, analytics reports) comes here, so here a user below the template's `run_role` is
    refused as if it did not exist (404); `requested_by=None` is the command line. (A schedule's
    slots are stored by `schedules`; its template was chosen among those its maker could see.)"""
    if requested_by is not None and not template_runnable(template=template, user=requested_by):
        raise Http404("No such report template.")
    values = parameters_validate(schema=template.parameters_schema, values=parameters)
    formats = output_formats_normalize(output_formats or template.output_formats)
    targets_validate(organization_id=template.organization_id, targets=delivery_targets)
    execution = ReportExecution.objects.create(
        organization=template.organization,
        template=template,
        parameters=values,
        output_formats=formats,
        trigger=trigger,
        requested_by=requested_by,
        retry_of=retry_of,
        schedule=schedule,
        celery_task_id=str(uuid.uuid4()),
    )
    access_log_record(
        organization=template.organization,
        user=requested_by,
        action=AccessAction.RUN,
        execution=execution,
        client=client,
    )
    deliveries_plan(plan=[(execution, delivery_targets)])
    if enqueue:
        enqueue_on_commit(execution)
    return execution


def enqueue_on_commit(*executions: ReportExecution) -> None:
    """Send the executions to workers once the transaction that stored them commits."""
    messages = [(execution.pk, execution.celery_task_id) for execution in executions]
    transaction.on_commit(lambda: executions_send(messages))


def executions_send(messages: Iterable[tuple[int, str]], *, fan_out: bool = True) -> int:
    """Hand (execution id, task id) messages to the broker; returns how many it took.

    More than FAN_OUT_BATCH messages (a catch-up pass after an outage) go out as batches that
    workers publish (`send_report_executions`), so the pass ends in a few messages' time, not
    thousands'. A broker that refuses is logged once and not tried again for BROKER_PAUSE
    seconds: the executions stay queued and the every-minute check sends them again."""
    messages = [(pk, task_id) for pk, task_id in messages]
    if time.monotonic() < _broker_down_until:
        _mark_unsent([pk for pk, _ in messages])
        return 0
    if fan_out and len(messages) > FAN_OUT_BATCH:
        from reporting.tasks import send_report_executions

        batches = [messages[i : i + FAN_OUT_BATCH] for i in range(0, len(messages), FAN_OUT_BATCH)]
        return _publish(batches, send_report_executions.delay)
    from reporting.tasks import process_report_execution

    def publish(batch: list[tuple[int, str]]) -> None:
        [(execution_id, task_id)] = batch
        process_report_execution.apply_async(args=[execution_id], task_id=task_id)

    return _publish([[message] for message in messages], publish)


def _publish(
    batches: list[list[tuple[int, str]]],
    publish: Callable[[list[tuple[int, str]]], Any],
) -> int:
    """Publish batch after batch until the broker refuses one; the rest are marked unsent."""
    global _broker_down_until
    sent = 0
    for index, batch in enumerate(batches):
        try:
            publish(batch)
        except Exception as error:  # any broker failure; the outbox keeps the work
            _broker_down_until = time.monotonic() + BROKER_PAUSE
            unsent = [pk for rest in batches[index:] for pk, _ in rest]
            log.warning(
                "The broker did not take execution %s (%s: %s); %d execution(s) stay queued "
                "and are sent again by the every-minute check.",
                batch[0][0], type(error).__name__, error, len(unsent),
            )  # fmt: skip
            _mark_unsent(unsent)
            return sent
        sent += len(batch)
    return sent


def _mark_unsent(execution_ids: list[int]) -> None:
    """No send on record: the next check sends them at once, without waiting for a resend."""
    try:
        ReportExecution.objects.filter(pk__in=execution_ids, status=ExecutionStatus.QUEUED).update(
            enqueued_at=None
        )
    except DatabaseError:
        log.warning(
            "Could not mark executions %s unsent; they are sent again later.", execution_ids
        )


@transaction.atomic
def execution_cancel(
    *, execution: ReportExecution, user: AbstractBaseUser | None, client: ClientInfo | None = None
) -> ReportExecution:
    """A queued execution never starts; a running one stops at its next progress step (its
    lease is gone, so nothing it writes after counts). Its deliveries are skipped."""
    cancelled = ReportExecution.objects.filter(
        pk=execution.pk, status__in=[ExecutionStatus.QUEUED, ExecutionStatus.RUNNING]
    ).update(status=ExecutionStatus.CANCELLED, finished_at=timezone.now(), lease_expires_at=None)
    execution.refresh_from_db()
    if not cancelled:
        raise ConflictError(
            "Only a queued or running execution can be cancelled "
            f"(its status is {execution.status}).",
            errors={"status": [execution.status]},
        )
    deliveries_settle(execution_ids=[execution.pk], reason="The report was cancelled.")
    search_sync_on_commit(execution)
    access_log_record(
        organization=execution.organization,
        user=user,
        action=AccessAction.CANCEL,
        execution=execution,
        client=client,
    )
    return execution


def execution_retry(
    *, execution: ReportExecution, user: AbstractBaseUser | None, client: ClientInfo | None = None
) -> ReportExecution:
    """A new execution with the same parameters, formats and delivery targets; the failed one
    stays as it was (its deliveries skipped)."""
    if execution.status not in (ExecutionStatus.FAILED, ExecutionStatus.CANCELLED):
        raise ConflictError(
            "Only a failed or cancelled execution can be retried "
            f"(its status is {execution.status}).",
            errors={"status": [execution.status]},
        )
    return execution_request(
        template=execution.template,
        parameters=execution.parameters,
        requested_by=user,
        trigger=Trigger.RETRY,
        output_formats=execution.output_formats,
        retry_of=execution,
        delivery_targets=[d.target for d in execution.deliveries.select_related("target")],
        client=client,
    )


# --- running ---------------------------------------------------------------------------------


def execution_run(
    *, execution_id: int, on_progress: Callable[[int], None] | None = None
) -> ReportExecution | None:
    """Run a queued execution to its end under a lease; a no-op when another worker holds it
    or it has ended. Returns the execution when this attempt ended it."""
    lease = lease_claim(execution_id=execution_id)
    if lease is None:
        log.info("Execution %s is not queued, or another worker holds it.", execution_id)
        return None
    with Heartbeat(lease):
        ended = _attempt(lease, on_progress)
    if not ended:
        return None
    execution = ReportExecution.objects.get(pk=execution_id)
    deliveries_start(execution=execution)
    search_sync_on_commit(execution)
    return execution


def _attempt(lease: Lease, on_progress: Callable[[int], None] | None) -> bool:
    """Render and store the outputs; True when this attempt wrote the execution's end."""
    execution = ReportExecution.objects.select_related("template", "organization").get(
        pk=lease.execution_id
    )
    progress = Progress(lease, on_progress)
    saved: list[str] = []
    try:
        with tempfile.TemporaryDirectory(dir=settings.REPORT_SPOOL_DIR) as spool_dir:
            document = _document_build(execution, Path(spool_dir), progress)
            outputs = _outputs_render(execution, document, Path(spool_dir), progress, saved, lease)
            lease.write(lambda: _finish(lease, outputs, row_count=document_rows(document)))
        _discard(_files_of(execution, besides=lease))  # what attempts before this one left
        return True
    except ExecutionCancelled:
        _discard(saved)
        log.info("Execution %s: this attempt was cancelled or superseded.", lease.execution_id)
        return False
    except Exception as error:
        _discard(saved)
        if _caused_by(error, SoftTimeLimitExceeded):
            message = (
                f"The report took longer than REPORT_SOFT_TIME_LIMIT "
                f"({settings.REPORT_SOFT_TIME_LIMIT} s) and was stopped."
            )
            log.warning("Execution %s failed: %s", lease.execution_id, message)
            return lease.write(lambda: _fail(lease, message))
        if _database_outage(error) and lease.attempt < settings.REPORT_MAX_ATTEMPTS:
            log.warning("Execution %s: the database went away; queued again.", lease.execution_id)
            lease.write(lambda: _requeue(lease))
            return False
        if isinstance(error, ExecutionError):
            message = str(error)
            log.warning("Execution %s failed: %s", lease.execution_id, message)
        else:
            message = (
                f"An unexpected error stopped the report ({type(error).__name__}); the server "
                f"log has the details for execution {lease.execution_id}."
            )
            log.exception("Execution %s failed unexpectedly.", lease.execution_id)
        return lease.write(lambda: _fail(lease, message))


def document_rows(document: ReportDocument) -> int:
    return sum(table.row_count for table in document.tables)


class Progress:
    """Saves progress at most every half second, fenced on the lease: notices a cancel or a
    takeover at the next step."""

    def __init__(self, lease: Lease, on_progress: Callable[[int], None] | None = None):
        self.lease = lease
        self.on_progress = on_progress
        self.percent = 0
        self.saved_at = 0.0
        self.rows_done = 0
        self.span = (0, 0, 1)  # (start percent, end percent, rows expected)

    def set(self, percent: int, *, force: bool = False) -> None:
        percent = max(0, min(99, percent))
        now = time.monotonic()
        if not force and (percent <= self.percent or now - self.saved_at < PROGRESS_SAVE_INTERVAL):
            return
        held = self.lease.write(lambda: self.lease.fence().update(progress=percent))
        if not held:
            raise ExecutionCancelled()
        self.percent, self.saved_at = percent, now
        if self.on_progress:
            self.on_progress(percent)

    def phase(self, start: int, end: int, rows: int) -> None:
        self.set(start, force=True)
        self.span, self.rows_done = (start, end, max(rows, 1)), 0

    def rows(self, count: int) -> None:
        self.rows_done += count
        start, end, total = self.span
        self.set(start + (end - start) * min(self.rows_done, total) // total)


def _document_build(
    execution: ReportExecution, spool_dir: Path, progress: Progress
) -> ReportDocument:
    template, organization = execution.template, execution.organization
    sources = [link.data_source for link in template.sources.select_related("data_source")]
    tables = []
    for position, (source, name) in enumerate(zip(sources, table_names(sources), strict=True)):
        path = spool_dir / f"table-{position}.csv"
        try:
            columns, row_count = get_adapter(source.source_type).spool(
                query=source.query,
                config=source.config,
                parameters=execution.parameters,
                organization_id=organization.pk,
                path=path,
            )
        except DataSourceError as error:
            raise ExecutionError(f"Data source “{source.name}”: {error}") from error
        tables.append(
            SpooledTable(
                name=name, title=source.name, columns=columns, path=path, row_count=row_count
            )
        )
        progress.set(SPOOL_SHARE * (position + 1) // len(sources), force=True)
    return ReportDocument(
        title=template.name,
        slug=template.slug,
        description=template.description,
        branding=_branding(organization),
        parameters=execution.parameters,
        generated_at=timezone.now(),
        time_zone=ZoneInfo(organization.time_zone),
        tables=tables,
        charts=[Chart(**chart) for chart in template.charts],
        layout=layout_source(template),
        pdf_max_rows=settings.REPORT_PDF_MAX_ROWS,
        html_max_rows=settings.REPORT_HTML_MAX_ROWS,
        csv_formula_escaping=template.csv_formula_escaping,
    )


def _branding(organization: Organization) -> Branding:
    logo = ""
    if organization.logo:
        mime = mimetypes.guess_type(organization.logo.name)[0] or "image/png"
        with organization.logo.open("rb") as image:
            logo = f"data:{mime};base64,{base64.b64encode(image.read()).decode()}"
    return Branding(
        name=organization.name,
        colour=organization.brand_colour,
        logo=logo,
        footer_text=organization.report_footer,
    )


class _LocalFile(File):
    """Lets FileSystemStorage move the rendered file into place instead of copying it; S3Storage
    uploads it from the disk in parts (boto3's multipart upload), never whole in memory."""

    def temporary_file_path(self) -> str:
        return self.name


def _outputs_render(
    execution: ReportExecution,
    document: ReportDocument,
    spool_dir: Path,
    progress: Progress,
    saved: list[str],
    lease: Lease,
) -> list[ReportOutput]:
    formats = execution.output_formats
    total_rows = sum(table.row_count for table in document.tables)
    for table in document.tables:
        table.on_rows = progress.rows
    storage, outputs = report_storage(), []
    expires_at = timezone.now() + timedelta(days=settings.ANALYTICS_MAX_REPORT_AGE_DAYS)
    for n, output_format in enumerate(formats):
        share = (100 - SPOOL_SHARE) / len(formats)
        progress.phase(int(SPOOL_SHARE + n * share), int(SPOOL_SHARE + (n + 1) * share), total_rows)
        renderer = get_renderer(output_format)
        content_type, extension = renderer.media(document)
        path = spool_dir / f"output-{output_format}.{extension}"
        try:
            with path.open("wb") as out:
                renderer.render(document, out)
        except (ExecutionCancelled, SoftTimeLimitExceeded):
            raise
        except Exception as error:
            log.exception("Rendering %s of execution %s failed.", output_format, execution.pk)
            message = f"Rendering the {output_format.upper()} output failed: {error}"
            raise ExecutionError(message) from error
        size, digest = path.stat().st_size, _sha256(path)
        filename = output_filename(execution, extension)
        name = f"{_folder(execution)}/{lease.token.hex}/{filename}"
        name = _output_store(storage, name, path, content_type)
        saved.append(name)
        outputs.append(
            ReportOutput(
                execution=execution,
                format=output_format,
                file=name,
                filename=filename,
                size=size,
                sha256=digest,
                content_type=content_type,
                expires_at=expires_at,
            )
        )
    return outputs


def _output_store(storage: Storage, name: str, path: Path, content_type: str) -> str:
    try:
        with _LocalFile(path.open("rb"), name=str(path)) as content:
            content.content_type = content_type  # the object's Content-Type on S3
            return storage.save(name, content)
    except storage_errors() as error:
        log.exception("Storing %s failed.", name)
        raise ExecutionError(
            f"Storing the output {name.rpartition('/')[2]} failed: {error}"
        ) from error


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def output_filename(execution: ReportExecution, extension: str) -> str:
    """monthly-billing-summary_2025-03_<id>.pdf: template, the period reported, execution id."""
    return f"{execution.template.slug}_{_period_label(execution)}_{execution.pk}.{extension}"


def _period_label(execution: ReportExecution) -> str:
    parameters = execution.parameters
    month, year = parameters.get("month"), parameters.get("year")
    if month and year:
        month = str(month)[-2:]
        return f"{year}-{int(month):02d}"
    start, end = parameters.get("start_date"), parameters.get("end_date")
    if start and end:
        return f"{start}_{end}"
    return timezone.localdate(execution.queued_at).isoformat()


@transaction.atomic
def _finish(lease: Lease, outputs: list[ReportOutput], *, row_count: int) -> None:
    finished = lease.fence().update(
        status=ExecutionStatus.SUCCEEDED,
        finished_at=timezone.now(),
        heartbeat_at=timezone.now(),
        lease_expires_at=None,
        progress=100,
        row_count=row_count,
    )
    if not finished:
        raise ExecutionCancelled()
    ReportOutput.objects.bulk_create(outputs)


def _fail(lease: Lease, message: str) -> bool:
    return bool(
        lease.fence().update(
            status=ExecutionStatus.FAILED,
            finished_at=timezone.now(),
            lease_expires_at=None,
            error=message,
        )
    )


@transaction.atomic
def _requeue(lease: Lease) -> None:
    requeued = lease.fence().update(
        status=ExecutionStatus.QUEUED, progress=0, lease_expires_at=None, enqueued_at=timezone.now()
    )
    if requeued:
        enqueue_on_commit(ReportExecution.objects.get(pk=lease.execution_id))


def _caused_by(error: BaseException | None, kind: type[BaseException]) -> bool:
    """`error` or one it was raised from or during is a `kind` (a data source may wrap it)."""
    while error is not None:
        if isinstance(error, kind):
            return True
        error = error.__cause__ or error.__context__
    return False


def _database_outage(error: BaseException | None) -> bool:
    """The connection to PostgreSQL was lost (not a query's own failure or timeout)."""
    while error is not None:
        if isinstance(error, psycopg2.OperationalError) and not isinstance(
            error, psycopg2.errors.QueryCanceled
        ):
            return True
        error = error.__cause__ or error.__context__
    return False


def _folder(execution: ReportExecution) -> str:
    return f"{execution.organization.slug}/{execution.pk}"


def _files_of(execution: ReportExecution, *, besides: Lease) -> list[str]:
    """Files other attempts of the execution left: each attempt writes under its lease token."""
    storage, folder, found = report_storage(), _folder(execution), []
    try:
        folders, files = storage.listdir(folder)
        found += [f"{folder}/{name}" for name in files]
        for name in folders:
            if name != besides.token.hex:
                found += [
                    f"{folder}/{name}/{file}" for file in storage.listdir(f"{folder}/{name}")[1]
                ]
    except FileNotFoundError:
        return found
    except storage_errors():
        # Never fail the finished attempt (whose clean-up would delete its own outputs).
        log.exception("Could not list what earlier attempts of execution %s left.", execution.pk)
    return found


def _discard(names: list[str]) -> None:
    storage = report_storage()
    for name in names:
        try:
            storage.delete(name)
        except storage_errors():
            log.exception("Could not delete the partial output %s.", name)
