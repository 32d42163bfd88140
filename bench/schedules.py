"""check_scheduled_reports over 1,000 and 10,000 enabled schedules: time and SQL queries.

    .venv/bin/python bench/schedules.py
        [--database-url postgres://postgres@127.0.0.1:5432/reporting_bench_schedules]

Needs PostgreSQL: --database-url, else DATABASE_URL, else the URL above. The database is created
when missing and migrated; an organisation, a `database` template (`SELECT 1 AS one`, no
parameters) and two e-mail delivery targets are made once. Each run first deletes the schedules
and executions earlier runs left, then for each size:

- N enabled schedules are inserted with bulk_create, as schedule_create would have saved them at
  T0 (Tuesday 2025-06-03 10:05 UTC): `last_slot_at` the latest slot, `next_run_at` the next one
  (reporting.slots). Crons: 60% "0 6 * * *", 20% "30 7 * * 1", 18% "0 6 1 * *" and 2%
  "*/15 * * * *"; zones Europe/Berlin, America/New_York and UTC in turn. Every schedule delivers
  to one target, every fourth to a second one. Their beat rows (PeriodicTask, CrontabSchedule)
  are not made: schedule_create syncs one per schedule, which is slow, and
  check_scheduled_reports never reads them. It reads the schedules' own `enabled`,
  `next_run_at`, `last_slot_at`, cron and zone; a beat row only wakes run_scheduled_report for
  its one schedule.
- The task body, reporting.tasks.check_scheduled_reports.run(), runs at three moments
  (time-machine), its queries captured on the default connection (CaptureQueriesContext, so
  BEGIN and COMMIT count, as in django_assert_num_queries):
    nothing due  10:06, a minute after T0: every next_run_at is in the future
    2% due       10:15:20: the "*/15" schedules' 10:15 slot, on time
    outage       2025-07-01 12:00:20, four weeks later: every schedule has missed slots (the
                 monthly ones on 1 July); the default catch-up policy `latest` runs each
                 schedule's latest slot once: the missed one, or the "*/15" ones' on-time 12:00
                 (reporting.services.schedules: one run after an outage). The executions of
                 the 2% minute were left `running` with a heartbeat from then, as if their
                 workers died: the task also queues them again.
The table: the task body's wall seconds and queries, the executions it created and for how many
schedules, those it queued again, and the messages published and left on the queue.
The settings accept only filesystem, Redis and AMQP brokers, so after django.setup() this process
points the Celery app at kombu's in-memory transport: the on-commit enqueueing runs for real and
every message is counted (after_task_publish, and the queues' depth), with no broker and nothing
left for a development worker.
More than 500 messages at once go out as batches a worker publishes
(business_intelligence.send_report_executions): "messages" counts the executions sent, directly
or inside a batch; "on queue" the messages on the queues (a batch is one).
Goals: the query count does not grow with the number of schedules (issue 4); the outage at
10,000 schedules is caught up in under 5 s (issue 14), the minimum of --rounds rounds (3), each
on freshly inserted schedules. A benchmark, not a test: misses are printed, with the statements
that grew, and the exit status is 0 (2 when the database is not PostgreSQL).
"""

import argparse
import logging
import os
import re
import statistics
import sys
import time
from collections import Counter, deque
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import cycle, islice
from typing import Any
from urllib.parse import urlsplit

from exports import database_create, setup_django

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/reporting_bench_schedules"
SIZES = (1_000, 10_000)
ORGANIZATION_SLUG, TEMPLATE_SLUG = "bench-schedules", "bench-schedules-one"
# Weights out of 50, so every size that is a multiple of 50 has exactly 2% "*/15".
CRON_MIX = (("0 6 * * *", 30), ("30 7 * * 1", 10), ("0 6 1 * *", 9), ("*/15 * * * *", 1))
TIME_ZONES = ("Europe/Berlin", "America/New_York", "UTC")
CREATED_AT = datetime(2025, 6, 3, 10, 5, tzinfo=UTC)
SITUATIONS = (
    ("nothing due", CREATED_AT + timedelta(minutes=1)),
    ("2% due", datetime(2025, 6, 3, 10, 15, 20, tzinfo=UTC)),
    ("outage", datetime(2025, 7, 1, 12, 0, 20, tzinfo=UTC)),
)
PROCESS_TASK = "business_intelligence.process_report_execution"
FAN_OUT_TASK = "business_intelligence.send_report_executions"
CATCH_UP_GOAL = 5.0  # seconds for the outage at 10,000 schedules
QUERY_LOG_LIMIT = 1_000_000
SQL_SHOWN = 400  # characters of each grown statement printed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    parser.add_argument("--rounds", type=int, default=3)
    arguments = parser.parse_args()
    url = postgresql_url(arguments.database_url)
    os.environ["DATABASE_URL"] = url
    os.environ["REPORTING_DATABASE_URL"] = ""  # the `reporting` alias is this same database
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    database_create(url)
    setup_django()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    # The outage's stale-execution warning lists every requeued id; the table counts them.
    logging.getLogger("reporting.services.schedules").setLevel(logging.ERROR)
    broker = MemoryBroker()
    template = fixtures_ensure()
    results = []
    for round_number in range(1, arguments.rounds + 1):
        for size in SIZES:
            schedules_reset(template)
            schedules_insert(template, size)
            print(f"Round {round_number}: {size:,} schedules inserted.")
            results += [measure(template, size, *situation, broker) for situation in SITUATIONS]
    schedules_reset(template)  # the executions of the last outage need not stay
    print_results(results)


def postgresql_url(url: str | None) -> str:
    url = url or DEFAULT_DATABASE_URL
    if urlsplit(url).scheme not in ("postgres", "postgresql", "pgsql"):
        print(
            f"This benchmark needs PostgreSQL, not {url!r}: pass --database-url "
            "postgres://USER@HOST:PORT/reporting_bench_schedules or set DATABASE_URL.",
            file=sys.stderr,
        )
        raise SystemExit(2)
    return url


class MemoryBroker:
    """The Celery app on kombu's in-memory transport, counting what the task publishes."""

    def __init__(self) -> None:
        from celery.signals import after_task_publish

        from config.celery import app

        # Set before the first publish: the app opens its producer pool lazily.
        app.conf.broker_url = "memory://localhost/"
        app.conf.broker_transport_options = {}
        self.app, self.published, self.batched = app, Counter(), 0
        after_task_publish.connect(self._count, weak=False)

    def _count(self, sender: str | None = None, body: Any = None, **_: Any) -> None:
        self.published[sender] += 1
        if sender == FAN_OUT_TASK:
            args, _kwargs, _embed = body
            self.batched += len(args[0])

    def drain(self) -> None:
        self.published.clear()
        self.batched = 0
        with self.app.connection_for_write() as connection:
            for queue in self.app.amqp.queues:
                connection.default_channel.queue_purge(queue)

    def depth(self) -> int:
        """Messages waiting on every queue (renders on `reports`, batches on `maintenance`)."""
        with self.app.connection_for_write() as connection:
            channel = connection.default_channel
            return sum(channel.queue_declare(queue=q).message_count for q in self.app.amqp.queues)


# --- the schedules ---------------------------------------------------------------------------


def fixtures_ensure() -> Any:
    """The organisation, data source, template and delivery targets, made once."""
    from accounts.models import Organization
    from delivery.models import DeliveryTarget
    from delivery.services import target_create
    from reporting.models import DataSource, ReportTemplate
    from reporting.services.templates import data_source_create, template_create

    organization, _ = Organization.objects.get_or_create(
        slug=ORGANIZATION_SLUG, defaults={"name": "Benchmark (schedules)"}
    )
    for name in ("Finance", "Management"):
        if not DeliveryTarget.objects.filter(organization=organization, name=name).exists():
            recipients = [f"{name.lower()}@example.com"]
            target_create(
                organization=organization,
                created_by=None,
                name=name,
                kind="email",
                config={"recipients": recipients},
            )
    template = ReportTemplate.objects.filter(organization=organization, slug=TEMPLATE_SLUG).first()
    if template:
        return template
    source = DataSource.objects.filter(organization=organization, name="One").first()
    source = source or data_source_create(
        organization=organization,
        created_by=None,
        name="One",
        source_type="database",
        query="SELECT 1 AS one",
        config={},
    )
    return template_create(
        organization=organization,
        created_by=None,
        data_sources=[source],
        name="One (benchmark)",
        slug=TEMPLATE_SLUG,
        report_type="custom",
        output_formats=["csv"],
    )


def schedules_reset(template: Any) -> None:
    """Earlier runs' executions (their deliveries cascade) and schedules."""
    from reporting.models import ReportExecution, ReportSchedule

    ReportExecution.objects.filter(template=template).delete()
    ReportSchedule.objects.filter(template=template).delete()


def schedules_insert(template: Any, size: int) -> None:
    """`size` enabled schedules, stored as schedule_create stores them at CREATED_AT."""
    import time_machine

    from delivery.models import DeliveryTarget
    from reporting.models import ReportSchedule
    from reporting.slots import latest_slot, next_slots

    crons = cycle([cron for cron, weight in CRON_MIX for _ in range(weight)])
    shapes = list(islice(zip(crons, cycle(TIME_ZONES), strict=False), size))
    slots = {
        (cron, zone): (
            latest_slot(cron=cron, time_zone=zone, at=CREATED_AT),
            next_slots(cron=cron, time_zone=zone, after=CREATED_AT, count=1)[0],
        )
        for cron, zone in set(shapes)
    }
    schedules = [
        ReportSchedule(
            organization_id=template.organization_id,
            template=template,
            name=f"Schedule {number:05d}",
            cron=cron,
            time_zone=zone,
            last_slot_at=slots[cron, zone][0],
            next_run_at=slots[cron, zone][1],
        )
        for number, (cron, zone) in enumerate(shapes)
    ]
    with time_machine.travel(CREATED_AT, tick=False):  # created_at, as schedule_create sets it
        schedules = ReportSchedule.objects.bulk_create(schedules, batch_size=2000)
    finance, management = DeliveryTarget.objects.filter(
        organization_id=template.organization_id
    ).order_by("name")
    link = ReportSchedule.delivery_targets.through
    links = [link(reportschedule=schedule, deliverytarget=finance) for schedule in schedules]
    links += [link(reportschedule=s, deliverytarget=management) for s in schedules[::4]]
    link.objects.bulk_create(links, batch_size=2000)


# --- measuring -------------------------------------------------------------------------------


@dataclass
class Result:
    size: int
    situation: str
    seconds: float
    queries: list[str]
    created: int
    schedules_run: int
    requeued: int
    messages: int
    messages_published: int
    queue_depth: int
    expected_messages: int


def measure(
    template: Any, size: int, situation: str, moment: datetime, broker: MemoryBroker
) -> Result:
    import time_machine
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from reporting.models import ExecutionStatus, ReportExecution
    from reporting.tasks import check_scheduled_reports

    executions = ReportExecution.objects.filter(template=template)
    if situation == "outage":
        workers_died(executions, at=SITUATIONS[1][1] + timedelta(minutes=1))
    known = set(executions.values_list("pk", flat=True))
    running = executions.filter(status=ExecutionStatus.RUNNING).count()
    broker.drain()
    # Django's query log keeps the last 9,000 queries, and CaptureQueriesContext counts by its
    # length: the outage at 10,000 schedules runs more than that.
    connection.queries_log = deque(maxlen=QUERY_LOG_LIMIT)
    with time_machine.travel(moment, tick=True), CaptureQueriesContext(connection) as captured:
        started = time.perf_counter()
        check_scheduled_reports.run()
        seconds = time.perf_counter() - started
    created = executions.exclude(pk__in=known)
    requeued = running - executions.filter(status=ExecutionStatus.RUNNING).count()
    result = Result(
        size=size,
        situation=situation,
        seconds=seconds,
        queries=[query["sql"] for query in captured.captured_queries],
        created=created.count(),
        schedules_run=created.values("schedule").distinct().count(),
        requeued=requeued,
        messages=broker.published[PROCESS_TASK] + broker.batched,
        messages_published=broker.published[PROCESS_TASK] + broker.published[FAN_OUT_TASK],
        queue_depth=broker.depth(),
        expected_messages=created.filter(status=ExecutionStatus.QUEUED).count() + requeued,
    )
    print(f"  {situation:12} {seconds:7.2f} s, {len(result.queries)} queries")
    return result


def workers_died(executions: Any, *, at: datetime) -> None:
    """The queued executions were picked up, then their workers were killed mid-run."""
    from reporting.models import ExecutionStatus

    executions.filter(status=ExecutionStatus.QUEUED).update(
        status=ExecutionStatus.RUNNING,
        started_at=at,
        heartbeat_at=at,
        lease_expires_at=at,
        attempts=1,
    )


# --- the report ------------------------------------------------------------------------------


def verdict(met: bool) -> str:
    return "PASS" if met else "MISS"


def print_results(results: list[Result]) -> None:
    print(
        f"\n{'schedules':>9}  {'situation':12} {'seconds':>7} {'queries':>7} {'created':>7} "
        f"{'for':>6} {'requeued':>8} {'messages':>8} {'on queue':>8}"
    )
    for result in results:
        print(
            f"{result.size:>9,}  {result.situation:12} {result.seconds:7.2f} "
            f"{len(result.queries):7} {result.created:7,} {result.schedules_run:6,} "
            f"{result.requeued:8,} "
            f"{result.messages:8,} {result.queue_depth:8,}"
        )
    print()
    enqueued = all(
        r.messages == r.expected_messages and r.messages_published == r.queue_depth for r in results
    )
    print(
        f"{verdict(enqueued)}  on-commit enqueueing: every queued execution created or requeued "
        "sent once, directly or in a batch, and every message on the in-memory queue"
    )
    small, large = min(SIZES), max(SIZES)
    by_key = {(result.size, result.situation): result for result in results}
    missed = []
    for situation, _ in SITUATIONS:
        counts = [len(by_key[size, situation].queries) for size in (small, large)]
        print(
            f"{verdict(counts[0] == counts[1])}  {situation}: {counts[1]} queries for "
            f"{large:,} schedules, {counts[0]} for {small:,}"
        )
        if counts[0] != counts[1]:
            missed.append(situation)
    outages = [r.seconds for r in results if r.size == large and r.situation == "outage"]
    caught_up = min(outages) <= CATCH_UP_GOAL
    print(
        f"{verdict(caught_up)}  outage at {large:,} schedules caught up in {min(outages):.2f} s "
        f"(minimum of {len(outages)}; median {statistics.median(outages):.2f} s), "
        f"goal under {CATCH_UP_GOAL:.0f} s"
    )
    missed += [] if caught_up else ["catch-up time"]
    for situation in missed:
        if situation != "catch-up time":
            print_growth(situation, by_key[small, situation], by_key[large, situation])
    print(f"\nMissed {len(missed)} goal(s)." if missed else "\nEvery goal met.")


def print_growth(situation: str, small: Result, large: Result) -> None:
    """Each statement shape run more often for more schedules, with one example of it."""
    before = Counter(map(statement_shape, small.queries))
    after = Counter(map(statement_shape, large.queries))
    examples = {statement_shape(sql): sql for sql in large.queries}
    print(f"\n{situation}: statements whose count grew ({small.size:,} -> {large.size:,})")
    for shape, count in after.most_common():
        if count > before[shape]:
            sql = examples[shape]
            shown = sql if len(sql) <= SQL_SHOWN else f"{sql[:SQL_SHOWN]}… ({len(sql):,} chars)"
            print(f"  {before[shape]:>5} -> {count:<5} {shown}")


def statement_shape(sql: str) -> str:
    """The statement with its values, lists of them and runs of CASE arms each folded into `?`."""
    shape = re.sub(r"'(?:[^']|'')*'(?:::\w+)?", "?", sql)
    shape = re.sub(r"\b(?:\d+(?:\.\d+)?|NULL|TRUE|FALSE)\b", "?", shape)
    shape = re.sub(r"\?(?:, ?\?)+", "?", shape)
    shape = re.sub(r"\(\?\)(?:, \(\?\))+", "(?)", shape)
    return re.sub(r"(?:WHEN \([^()]*\) THEN \? ?)+", "WHEN ? THEN ? ", shape)


if __name__ == "__main__":
    main()
