"""Usage-event ingestion through the HTTP batch API against COPY FROM of the same rows.

    .venv/bin/python bench/ingest.py [--events 200000] [--batch 1000] [--clients 4]
        [--workers 2] [--repeat 3] [--profile]
        [--database-url postgres://postgres@127.0.0.1:5432/reporting_bench_ingest]

Needs PostgreSQL: --database-url, else DATABASE_URL, else the URL above; the database is created
when missing and migrated, with an organisation `bench-ingest` and an admin member whose JWT the
clients send. REDIS_URL, when set, is the server's cache (as in production); else the file cache.

  api       gunicorn config.wsgi with --workers sync workers on a free local port, DEBUG off,
            started once for every round; --clients threads, each with its own keep-alive
            connection, POST /api/v1/analytics/events with {"events": [--batch events]} until
            --events are sent. The bodies are encoded before the clock starts: the clock covers
            the server.
  baseline  the same rows (same ids, fields, timestamps) formatted as COPY text and sent with one
            COPY events_usageevent FROM STDIN, one transaction, into the same table with the same
            indexes.
--repeat rounds, each an api run then a COPY run, every run starting from a table without the
organisation's events (deleted, then VACUUM ANALYZE); the row count is checked after each run.
After each api run, the fold of its pending live counts (analytics.counters: what an analytics
worker does a couple of seconds after the batches, outside the api run's clock) is timed here.
Printed: each round's events/s, their minimum and median, the ratio api/COPY of the fastest runs
(and of the medians), the machine's load average, the gunicorn tree's peak RSS (master and
workers, VmHWM summed) and each worker's RSS after every round.
Goals (issue 14): api at least 0.8x COPY, and at least 25,000 events/s in every round; the
workers' RSS stays flat from round to round.
Below a goal (or with --profile), one batch runs in this process through the whole Django
request path (django.test.Client, same JWT) under cProfile, and its sections are timed; the top
functions are printed. A benchmark, not a test: the exit status is 0 (2 when the database is not
PostgreSQL).
"""

import argparse
import cProfile
import io
import json
import os
import pstats
import queue
import random
import resource
import secrets
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from statistics import median
from typing import Any

from exports import PROJECT, database_create, postgresql, postgresql_url, setup_django

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/reporting_bench_ingest"
ORGANIZATION_SLUG, USERNAME = "bench-ingest", "bench-ingest-admin"
APPLICATION_NAME = "bench-ingest-api"  # the gunicorn workers' PostgreSQL connections
ENDPOINT = "/api/v1/analytics/events"
GOAL_EVENTS_PER_SECOND = 25_000  # in every round
GOAL_RATIO = 0.8  # api / COPY, fastest runs
EVENT_KINDS = [  # (type, category, weight)
    ("login", "authentication", 20), ("logout", "authentication", 15),
    ("equipment_reservation", "equipment", 12), ("equipment_start", "equipment", 10),
    ("equipment_stop", "equipment", 10), ("inventory_issue", "inventory", 12),
    ("inventory_return", "inventory", 4), ("project_update", "project", 10),
    ("project_create", "project", 3), ("workshop_signup", "community", 4),
]  # fmt: skip


def main() -> None:
    arguments = parse_arguments()
    url = postgresql_url(arguments.database_url or DEFAULT_DATABASE_URL)
    configure_environment(url)
    database_create(url)
    setup_django()
    organization, token = prepare()
    events = events_generate(arguments.events, seed=arguments.seed)
    bodies = list(bodies_encode(events, arguments.batch))
    print(
        f"{len(events):,} events in {len(bodies)} batches of {arguments.batch:,}; gunicorn "
        f"{arguments.workers} workers, {arguments.clients} client threads; load average "
        f"{load_average()}\n"
    )
    rounds = []
    with Server(arguments.workers, token, url) as server:
        for number in range(1, arguments.repeat + 1):
            events_delete(url, organization.pk)
            api = Run(*server.run(bodies, arguments.clients), events_count(url, organization.pk))
            fold_print(organization, len(events))
            events_delete(url, organization.pk)
            copy = Run(*copy_run(url, organization.pk, events), events_count(url, organization.pk))
            rounds.append(Round(len(events), api, copy, server.workers_rss()))
            rounds[-1].print(number)
        peak = server.tree_peak_rss()
    met = report(rounds, peak)
    if arguments.profile or not met:
        table_vacuum(url)  # the profile runs against the COPY's rows, with fresh statistics
        profile(organization, token, arguments.batch)
    events_delete(url, organization.pk)


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=1000, help="events per request")
    parser.add_argument("--clients", type=int, default=4, help="client threads")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--repeat", type=int, default=3, help="rounds of an api and a COPY run")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="profile even when fast enough")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    arguments = parser.parse_args()
    numbers = ("events", "batch", "clients", "workers", "repeat")
    if min(getattr(arguments, name) for name in numbers) < 1:
        parser.error("--events, --batch, --clients, --workers and --repeat must be at least 1.")
    return arguments


def configure_environment(url: str) -> None:
    """Read by Django here and inherited by gunicorn."""
    os.environ["DATABASE_URL"] = url
    os.environ["REPORTING_DATABASE_URL"] = ""
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    # Production-like: DEBUG off (no query log), which needs a key that is not the development one.
    os.environ["DEBUG"] = "0"
    os.environ.setdefault("SECRET_KEY", "bench-" + secrets.token_hex(32))
    os.environ["JWT_ACCESS_MINUTES"] = "240"
    os.environ["LOG_LEVEL"] = "WARNING"


# --- preparing -------------------------------------------------------------------------------


def prepare() -> tuple[Any, str]:
    """Migrate; the organisation and its admin member, and an access token for the clients."""
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from rest_framework_simplejwt.tokens import RefreshToken

    from accounts.models import Membership, Organization, Role

    call_command("migrate", verbosity=0, interactive=False)
    organization, _ = Organization.objects.get_or_create(
        slug=ORGANIZATION_SLUG, defaults={"name": "Ingestion benchmark"}
    )
    user, _ = get_user_model().objects.get_or_create(username=USERNAME)
    Membership.objects.update_or_create(
        user=user, organization=organization, defaults={"role": Role.ADMIN}
    )
    return organization, str(RefreshToken.for_user(user).access_token)


def events_generate(count: int, *, seed: int) -> list[dict[str, Any]]:
    """Distinct event_ids, members and machines of a makerspace, timestamps over 30 days."""
    rng = random.Random(seed)
    now = datetime.now(UTC).replace(microsecond=0)
    kinds = rng.choices(EVENT_KINDS, weights=[w for _, _, w in EVENT_KINDS], k=count)
    run = secrets.token_hex(4)
    events = []
    for n, (event_type, category, _) in enumerate(kinds):
        moment = now - timedelta(seconds=rng.randrange(30 * 86_400))
        metadata = {"source": rng.choice(("kiosk", "web", "mobile"))}
        if category == "equipment":
            metadata["equipment_id"] = f"eq-{rng.randrange(40):03d}"
        elif category == "inventory":
            metadata |= {"item_id": f"item-{rng.randrange(300):04d}", "quantity": rng.randint(1, 9)}
        events.append({
            "event_id": f"bench-{run}-{n:09d}", "event_type": event_type,
            "event_category": category, "user_id": f"member-{rng.randrange(2000):05d}",
            "timestamp": moment.isoformat().replace("+00:00", "Z"), "metadata": metadata,
        })  # fmt: skip
    return events


def bodies_encode(events: list[dict[str, Any]], batch: int) -> Iterator[bytes]:
    for start in range(0, len(events), batch):
        yield json.dumps({"events": events[start : start + batch]}).encode()


def fold_print(organization, events: int) -> None:
    """The live counters' fold, which an analytics worker runs a couple of seconds after the
    batches (off the request path, so not in the api run's time): timed here on the run's
    pending rows."""
    from analytics.counters import counters_fold

    started, cpu = time.perf_counter(), time.process_time()
    batches = counters_fold(organization=organization)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    print(
        f"  fold of the api run's {batches} pending batches (the analytics worker's share): "
        f"{seconds:.2f} s, {seconds / events * 1e6:.1f} µs an event ({cpu:.2f} s CPU here)"
    )


def events_delete(url: str, organization_id: int) -> None:
    with postgresql(url) as connection, connection.cursor() as cursor:
        for table in ("events_usageevent", "analytics_analyticsdirtyday",
                      "analytics_analyticspendingcount", "analytics_analyticsdailycount",
                      "analytics_analyticsdailyuser"):  # fmt: skip
            cursor.execute(f"DELETE FROM {table} WHERE organization_id = %s", [organization_id])
    table_vacuum(url)  # every run starts from the same table, dead rows reclaimed


def table_vacuum(url: str) -> None:
    import psycopg2

    connection = psycopg2.connect(url)
    connection.autocommit = True  # VACUUM cannot run inside a transaction
    try:
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE events_usageevent")
            # PostgreSQL's event_id keys live in a side table (events/partitions.py).
            cursor.execute("SELECT to_regclass('events_usageeventkey') IS NOT NULL")
            if cursor.fetchone()[0]:
                cursor.execute("VACUUM ANALYZE events_usageeventkey")
    finally:
        connection.close()


def events_count(url: str, organization_id: int) -> int:
    with postgresql(url) as connection, connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM events_usageevent WHERE organization_id = %s", [organization_id]
        )
        return cursor.fetchone()[0]


# --- the API run -----------------------------------------------------------------------------


class Server:
    """gunicorn with its workers warmed up, for every round. Its database connections carry an
    application_name and are kept (DATABASE_CONN_MAX_AGE), so their backends can be found and
    their CPU counted."""

    def __init__(self, workers: int, token: str, url: str):
        self.port = free_port()
        self.workers = workers
        self.url = url
        self.headers = {
            "Authorization": f"Bearer {token}",
            "X-Organization": ORGANIZATION_SLUG,
            "Content-Type": "application/json",
        }

    def __enter__(self) -> "Server":
        environment = {
            **os.environ,
            "DATABASE_CONN_MAX_AGE": "3600",
            "DATABASE_URL": f"{self.url}?application_name={APPLICATION_NAME}",
        }
        self.process = subprocess.Popen(
            [str(PROJECT / ".venv/bin/gunicorn"), "config.wsgi", "-w", str(self.workers),
             "-b", f"127.0.0.1:{self.port}", "--log-level", "warning"],
            cwd=PROJECT, env=environment,
        )  # fmt: skip
        server_wait(self.port, self.process)
        for _ in range(10):  # until every worker has served a batch and holds its connection
            warm_up(self.port, self.headers, self.workers * 2)
            if len(backends_find(self.url)) >= self.workers:
                break
        self.pids = workers_find(self.process.pid)
        return self

    def __exit__(self, *exc_info) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)

    def run(self, bodies: list[bytes], clients: int) -> tuple[float, float]:
        """Seconds, and CPU seconds of the workers and their backends."""
        # A worker whose connection opened during the run has a backend found only after it,
        # whose CPU so far is all the run's.
        before = cpu_sample(self.pids, backends_find(self.url))
        seconds = clients_run(self.port, self.headers, bodies, clients)
        used = cpu_used(before, cpu_sample(self.pids, backends_find(self.url)))
        print(
            f"  api  run {seconds:6.2f} s; CPU s: gunicorn workers {used['own']:.2f} "
            f"({used['own'] / len(bodies) * 1000:.1f} ms a batch), their PostgreSQL backends "
            f"{used['backends']:.2f}, clients {used['self']:.2f}; {machine_line(used)}"
        )
        return seconds, used["own"] + used["backends"]

    def workers_rss(self) -> list[int]:
        return [memory_kb(pid, "VmRSS") for pid in self.pids]

    def tree_peak_rss(self) -> int:
        """Each process's own peak (VmHWM) summed: the most the tree can have held at once."""
        return sum(memory_kb(pid, "VmHWM") for pid in [self.process.pid, *self.pids])


def backends_find(url: str) -> list[int]:
    with postgresql(url) as connection, connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s", [APPLICATION_NAME]
        )
        return [pid for (pid,) in cursor.fetchall()]


def memory_kb(pid: int, name: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{name}:"):
            return int(line.split()[1])
    raise LookupError(name)


def load_average() -> str:
    return " ".join(f"{n:.2f}" for n in os.getloadavg())


def workers_find(master: int) -> list[int]:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return [int(pid) for pid in children]


def cpu_sample(own: list[int], backends: list[int]) -> dict[str, Any]:
    """CPU seconds so far: this process, the side's own processes, each of its PostgreSQL
    backends (PostgreSQL runs on this machine), and the machine (busy and all, from /proc/stat),
    to show who had the cores during the run."""
    tick = os.sysconf("SC_CLK_TCK")
    usage = resource.getrusage(resource.RUSAGE_SELF)
    machine = [int(n) for n in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle = machine[3] + machine[4]  # idle, iowait
    return {"self": usage.ru_utime + usage.ru_stime, "own": sum(map(process_cpu, own)),
            "backends": {pid: process_cpu(pid) for pid in backends},
            "busy": (sum(machine) - idle) / tick, "all": sum(machine) / tick}  # fmt: skip


def process_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def cpu_used(before: dict[str, Any], after: dict[str, Any]) -> dict[str, float]:
    used = {name: after[name] - before[name] for name in before if name != "backends"}
    backends = after["backends"]
    used["backends"] = sum(backends[pid] - before["backends"].get(pid, 0.0) for pid in backends)
    return used


def machine_line(used: dict[str, float]) -> str:
    return (
        f"whole machine {used['busy']:.1f} of {used['all']:.1f} ({os.cpu_count()} cores, "
        "other processes too)"
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def server_wait(port: int, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit("gunicorn exited while starting.")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("gunicorn did not listen within 60 s.")


def warm_up(port: int, headers: dict[str, str], requests_count: int) -> None:
    """Batches sent at once from as many threads as requests: every worker imports its views
    and opens its connections before the clock. Their events are deleted before each round."""
    bodies = list(bodies_encode(events_generate(requests_count * 100, seed=0), 100))
    clients_run(port, headers, bodies, requests_count)


def clients_run(port: int, headers: dict[str, str], bodies: list[bytes], clients: int) -> float:
    work: queue.SimpleQueue[bytes] = queue.SimpleQueue()
    for body in bodies:
        work.put(body)
    failures: list[str] = []
    threads = [
        threading.Thread(target=client, args=(port, headers, work, failures))
        for _ in range(clients)
    ]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    if failures:
        raise SystemExit(f"{len(failures)} batches failed; the first: {failures[0]}")
    return seconds


def client(port: int, headers: dict[str, str], work: queue.SimpleQueue, failures: list) -> None:
    import requests

    address = f"http://127.0.0.1:{port}{ENDPOINT}"
    with requests.Session() as session:  # one keep-alive connection per thread
        while True:
            try:
                body = work.get_nowait()
            except queue.Empty:
                return
            response = session.post(address, data=body, headers=headers)
            if response.status_code != 201 or response.json()["duplicates"]:
                failures.append(f"{response.status_code}: {response.text[:500]}")


# --- the COPY baseline -----------------------------------------------------------------------


def copy_run(url: str, organization_id: int, events: list[dict[str, Any]]) -> tuple[float, float]:
    """Seconds, and CPU seconds of this process and its backend. The clock covers formatting
    the rows as COPY text and the COPY, one transaction."""
    columns = "organization_id, event_id, event_type, event_category, user_id, timestamp, " \
              "metadata, received_at"  # fmt: skip
    with postgresql(url) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backends = [cursor.fetchone()[0]]
        connection.commit()
        before = cpu_sample([], backends)
        started = time.perf_counter()
        received_at = datetime.now(UTC).isoformat()
        text = io.StringIO()
        for event in events:
            metadata = json.dumps(event["metadata"]).replace("\\", "\\\\")
            text.write(
                f"{organization_id}\t{event['event_id']}\t{event['event_type']}\t"
                f"{event['event_category']}\t{event['user_id']}\t{event['timestamp']}\t"
                f"{metadata}\t{received_at}\n"
            )
        text.seek(0)
        cursor.copy_expert(f"COPY events_usageevent ({columns}) FROM STDIN", text)
        connection.commit()
        seconds = time.perf_counter() - started
        used = cpu_used(before, cpu_sample([], backends))
    print(
        f"  COPY run {seconds:6.2f} s; CPU s: this process {used['self']:.2f}, its PostgreSQL "
        f"backend {used['backends']:.2f}; {machine_line(used)}"
    )
    return seconds, used["self"] + used["backends"]


# --- the report ------------------------------------------------------------------------------


@dataclass
class Run:
    seconds: float
    cpu: float  # CPU seconds of the side's processes and their PostgreSQL backends
    stored: int


@dataclass
class Round:
    events: int
    api: Run
    copy: Run
    workers_rss: list[int]  # kB after the round

    @property
    def api_rate(self) -> float:
        return self.events / self.api.seconds

    @property
    def copy_rate(self) -> float:
        return self.events / self.copy.seconds

    def cpu_us(self, run: Run) -> float:
        return run.cpu / self.events * 1e6

    def print(self, number: int) -> None:
        rss = ", ".join(f"{kb / 1024:.0f}" for kb in self.workers_rss)
        print(
            f"round {number}: api {self.api_rate:7,.0f} events/s  COPY {self.copy_rate:7,.0f} "
            f"events/s  api/COPY {self.api_rate / self.copy_rate:4.2f}  CPU µs an event: api "
            f"{self.cpu_us(self.api):.1f}, COPY {self.cpu_us(self.copy):.1f}  workers' RSS {rss} "
            f"MB  load {load_average()}"
        )
        for name, run in (("api", self.api), ("COPY", self.copy)):
            if run.stored != self.events:
                print(f"  !!  {name} stored {run.stored:,} rows, not {self.events:,}")


def report(rounds: list[Round], peak_kb: int) -> bool:
    """The summary and the goals' PASS/MISSED lines; whether both goals were met."""
    api = sorted(r.api_rate for r in rounds)
    copy = sorted(r.copy_rate for r in rounds)
    ratio, median_ratio = api[-1] / copy[-1], median(api) / median(copy)
    api_cpu = median(r.cpu_us(r.api) for r in rounds)
    copy_cpu = median(r.cpu_us(r.copy) for r in rounds)
    growth = [(last - first) / 1024 for first, last in
              zip(rounds[0].workers_rss, rounds[-1].workers_rss, strict=True)]  # fmt: skip
    print(
        f"\napi   events/s: slowest {api[0]:7,.0f}  median {median(api):7,.0f}  "
        f"fastest {api[-1]:7,.0f}\n"
        f"COPY  events/s: slowest {copy[0]:7,.0f}  median {median(copy):7,.0f}  "
        f"fastest {copy[-1]:7,.0f}\n"
        f"api/COPY: {ratio:.2f} (fastest runs), {median_ratio:.2f} (medians)\n"
        f"CPU µs an event (medians, own processes and their PostgreSQL backends): api "
        f"{api_cpu:.1f}, COPY {copy_cpu:.1f}\n"
        f"gunicorn tree peak RSS {peak_kb / 1024:.0f} MB; workers' RSS from the first round to "
        f"the last: {', '.join(f'{mb:+.1f}' for mb in growth)} MB\n"
        f"load average {load_average()} (1, 5, 15 min)\n"
    )
    rate_met, ratio_met = api[0] >= GOAL_EVENTS_PER_SECOND, ratio >= GOAL_RATIO
    print(f"{verdict(ratio_met)}  api/COPY {ratio:.2f} (goal >= {GOAL_RATIO})")
    print(
        f"{verdict(rate_met)}  api {api[0]:,.0f} events/s in the slowest round "
        f"(goal >= {GOAL_EVENTS_PER_SECOND:,} in every round)"
    )
    return rate_met and ratio_met


def verdict(met: bool) -> str:
    return "PASS  " if met else "MISSED"


# --- the profile -----------------------------------------------------------------------------


def profile(organization: Any, token: str, batch: int) -> None:
    """One batch through the whole request path in this process, then its sections timed."""
    from django.test import Client

    print(f"\nProfile: one batch of {batch:,} through the request path in this process")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_X_ORGANIZATION=ORGANIZATION_SLUG)
    warm = json.dumps({"events": events_generate(batch, seed=1)}).encode()
    client.post(ENDPOINT, warm, content_type="application/json")  # imports, first connection
    body = json.dumps({"events": events_generate(batch, seed=2)}).encode()
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    response = client.post(ENDPOINT, body, content_type="application/json")
    profiler.disable()
    print(f"  request: {(time.perf_counter() - started) * 1000:.0f} ms under cProfile, "
          f"answer {response.status_code} {response.content[:80]!r}")  # fmt: skip
    stats = pstats.Stats(profiler, stream=sys.stdout)
    stats.sort_stats("cumulative").print_stats(30)
    stats.sort_stats("tottime").print_stats(20)
    sections_time(organization, batch)


def sections_time(organization: Any, batch: int) -> None:
    """The service's steps one by one on fresh batches, without the profiler, median of 5."""
    from django.db import transaction

    from analytics.services import data_received
    from config.request_limits import JSONParser
    from events.ingestion import _insert, _values
    from events.services import USAGE_EVENTS, events_ingest

    seeds = iter(range(100, 1000))

    def fresh() -> list[dict[str, Any]]:
        return events_generate(batch, seed=next(seeds))

    def encoded(events):
        return json.dumps({"events": events}).encode()

    def parse(body):
        return JSONParser().parse(io.BytesIO(body), parser_context={})

    def insert(events):
        values = [_values(USAGE_EVENTS, event, {})[0] for event in events]
        with transaction.atomic():
            _insert(USAGE_EVENTS, organization, values)

    def mark(events):
        moments = [_values(USAGE_EVENTS, e, {})[0]["timestamp"] for e in events]
        with transaction.atomic():
            data_received(organization=organization, moments=moments)

    def validate(events):
        return [_values(USAGE_EVENTS, e, {}) for e in events]

    def ingest(events):
        return events_ingest(organization=organization, events=events, default_user_id="1")

    steps = {  # name: (what the clock does not cover, what it does)
        "decoding the body (the API's JSON parser)": (encoded, parse),
        "validation (_values per event)": (None, validate),
        "validation + insert of the new rows (COPY; staging table on a conflict)": (None, insert),
        "validation + data_received (dirty days, cache bump)": (None, mark),
        "events_ingest, the whole service": (None, ingest),
    }
    print(f"Sections for one fresh batch of {batch:,}, median of 5 (cumulative where named so):")
    for name, (prepare, step) in steps.items():
        runs = []
        for _ in range(5):
            argument = fresh() if prepare is None else prepare(fresh())
            started = time.perf_counter()
            step(argument)
            runs.append((time.perf_counter() - started) * 1000)
        print(f"  {sorted(runs)[2]:8.1f} ms  {name}")


if __name__ == "__main__":
    main()
