"""Usage-event ingestion through the HTTP batch API against COPY FROM of the same rows.

    .venv/bin/python bench/ingest.py [--events 200000] [--batch 1000] [--clients 4]
        [--workers 2] [--repeat 2] [--profile]
        [--database-url postgres://postgres@127.0.0.1:5432/reporting_bench_ingest]

Needs PostgreSQL: --database-url, else DATABASE_URL, else the URL above; the database is created
when missing and migrated, with an organisation `bench-ingest` and an admin member whose JWT the
clients send. REDIS_URL, when set, is the server's cache (as in production); else the file cache.

  api       gunicorn config.wsgi with --workers sync workers on a free local port, DEBUG off;
            --clients threads, each with its own keep-alive connection, POST
            /api/v1/analytics/events with {"events": [--batch events]} until --events are sent.
            The bodies are encoded before the clock starts: the clock covers the server.
  baseline  the organisation's events deleted, then the same rows (same ids, fields, timestamps)
            formatted as COPY text and sent with one COPY events_usageevent FROM STDIN, one
            transaction, into the same table with the same indexes.
Each is run --repeat times and the fastest kept; the row count is checked after each run.
Goal (issue 5): at least 20,000 events/s through the API.
Below it (or with --profile), one batch runs in this process through the whole Django request
path (django.test.Client, same JWT) under cProfile, and its sections are timed; the top
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
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from exports import PROJECT, database_create, postgresql, postgresql_url, setup_django

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/reporting_bench_ingest"
ORGANIZATION_SLUG, USERNAME = "bench-ingest", "bench-ingest-admin"
ENDPOINT = "/api/v1/analytics/events"
GOAL_EVENTS_PER_SECOND = 20_000
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
        f"{arguments.workers} workers, {arguments.clients} client threads\n"
    )
    api_runs, copy_runs = [], []
    for _ in range(arguments.repeat):
        events_delete(url, organization.pk)
        api_seconds = api_run(arguments, bodies, token)
        api_runs.append((api_seconds, events_count(url, organization.pk)))
        events_delete(url, organization.pk)
        copy_seconds = copy_run(url, organization.pk, events)
        copy_runs.append((copy_seconds, events_count(url, organization.pk)))
    (api_seconds, api_count), (copy_seconds, copy_count) = min(api_runs), min(copy_runs)
    report(len(events), api_seconds, api_count, copy_seconds, copy_count)
    if arguments.profile or len(events) / api_seconds < GOAL_EVENTS_PER_SECOND:
        table_vacuum(url)  # the profile runs against the COPY's rows, with fresh statistics
        profile(organization, token, arguments.batch)
    events_delete(url, organization.pk)


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=1000, help="events per request")
    parser.add_argument("--clients", type=int, default=4, help="client threads")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--repeat", type=int, default=2, help="runs of each; the fastest is kept")
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


def events_delete(url: str, organization_id: int) -> None:
    with postgresql(url) as connection, connection.cursor() as cursor:
        for table in ("events_usageevent", "analytics_analyticsdirtyday"):
            cursor.execute(f"DELETE FROM {table} WHERE organization_id = %s", [organization_id])
    table_vacuum(url)  # every run starts from the same table, dead rows reclaimed


def table_vacuum(url: str) -> None:
    import psycopg2

    connection = psycopg2.connect(url)
    connection.autocommit = True  # VACUUM cannot run inside a transaction
    try:
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE events_usageevent")
    finally:
        connection.close()


def events_count(url: str, organization_id: int) -> int:
    with postgresql(url) as connection, connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM events_usageevent WHERE organization_id = %s", [organization_id]
        )
        return cursor.fetchone()[0]


# --- the API run -----------------------------------------------------------------------------


def api_run(arguments: argparse.Namespace, bodies: list[bytes], token: str) -> float:
    port = free_port()
    server = subprocess.Popen(
        [str(PROJECT / ".venv/bin/gunicorn"), "config.wsgi", "-w", str(arguments.workers),
         "-b", f"127.0.0.1:{port}", "--log-level", "warning"],
        cwd=PROJECT,
    )  # fmt: skip
    try:
        server_wait(port, server)
        headers = {
            "Authorization": f"Bearer {token}",
            "X-Organization": ORGANIZATION_SLUG,
            "Content-Type": "application/json",
        }
        warm_up(port, headers, arguments.workers * 2)
        workers = workers_find(server.pid)
        before = cpu_sample(workers)
        seconds = clients_run(port, headers, bodies, arguments.clients)
        cpu_print(before, cpu_sample(workers), seconds)
        return seconds
    finally:
        server.terminate()
        server.wait(timeout=30)


def workers_find(master: int) -> list[int]:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return [int(pid) for pid in children]


def cpu_sample(workers: list[int]) -> dict[str, float]:
    """CPU seconds so far: this process (the clients), the workers, and the machine (busy and
    all, from /proc/stat), to show who had the cores during the run."""
    tick = os.sysconf("SC_CLK_TCK")
    own = resource.getrusage(resource.RUSAGE_SELF)
    served = 0.0
    for pid in workers:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        served += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    machine = [int(n) for n in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle = machine[3] + machine[4]  # idle, iowait
    return {"clients": own.ru_utime + own.ru_stime, "workers": served,
            "busy": (sum(machine) - idle) / tick, "all": sum(machine) / tick}  # fmt: skip


def cpu_print(before: dict[str, float], after: dict[str, float], seconds: float) -> None:
    used = {name: after[name] - before[name] for name in before}
    cores = os.cpu_count() or 1
    print(
        f"  api run {seconds:6.2f} s: CPU s gunicorn workers {used['workers']:.1f}, clients "
        f"{used['clients']:.2f}, whole machine {used['busy']:.1f} of {used['all']:.1f} "
        f"({cores} cores; the rest of the busy time is PostgreSQL and other processes)"
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
    """Empty batches: each worker imports its views and opens a connection before the clock."""
    import requests

    with requests.Session() as session:
        for _ in range(requests_count):
            response = session.post(
                f"http://127.0.0.1:{port}{ENDPOINT}", data=b'{"events": []}', headers=headers
            )
            if response.status_code != 201:
                raise SystemExit(f"Warm-up answered {response.status_code}: {response.text[:500]}")


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


def copy_run(url: str, organization_id: int, events: list[dict[str, Any]]) -> float:
    """The clock covers formatting the rows as COPY text and the COPY, one transaction."""
    columns = "organization_id, event_id, event_type, event_category, user_id, timestamp, " \
              "metadata, received_at"  # fmt: skip
    with postgresql(url) as connection, connection.cursor() as cursor:
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
        return time.perf_counter() - started


# --- the report ------------------------------------------------------------------------------


def report(events: int, api_seconds: float, api_count: int, copy_seconds: float, copy_count: int):
    api_rate, copy_rate = events / api_seconds, events / copy_seconds
    print(f"  api   {api_seconds:7.2f} s  {api_rate:9,.0f} events/s  rows stored {api_count:,}")
    print(f"  COPY  {copy_seconds:7.2f} s  {copy_rate:9,.0f} events/s  rows stored {copy_count:,}")
    print(f"  ratio COPY/api {copy_rate / api_rate:.1f}x (api reaches {api_rate / copy_rate:.0%})")
    for name, count in (("api", api_count), ("COPY", copy_count)):
        if count != events:
            print(f"  !!  {name} stored {count:,} rows, not {events:,}")
    met = api_rate >= GOAL_EVENTS_PER_SECOND
    print(
        f"\n{'PASS' if met else 'MISS'}  api {api_rate:,.0f} events/s "
        f"(goal >= {GOAL_EVENTS_PER_SECOND:,})"
    )


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
    from events.ingestion import _insert, _values
    from events.services import USAGE_EVENTS, events_ingest

    seeds = iter(range(100, 1000))

    def fresh() -> list[dict[str, Any]]:
        return events_generate(batch, seed=next(seeds))

    def insert(events):
        values = [_values(USAGE_EVENTS, event)[0] for event in events]
        with transaction.atomic():
            _insert(USAGE_EVENTS, organization, values)

    def mark(events):
        moments = [_values(USAGE_EVENTS, e)[0]["timestamp"] for e in events]
        with transaction.atomic():
            data_received(organization=organization, moments=moments)

    steps = {
        "json.loads of the body": lambda events: json.loads(json.dumps({"events": events})),
        "validation (_values per event)": lambda events: [_values(USAGE_EVENTS, e) for e in events],
        "validation + insert of the new rows (COPY, ON CONFLICT)": insert,
        "validation + data_received (dirty days, cache bump)": mark,
        "events_ingest, the whole service": lambda events: events_ingest(
            organization=organization, events=events, default_user_id="1"
        ),
    }
    print(f"Sections for one fresh batch of {batch:,}, median of 5 (cumulative where named so):")
    for name, step in steps.items():
        runs = []
        for _ in range(5):
            events = fresh()
            started = time.perf_counter()
            step(events)
            runs.append((time.perf_counter() - started) * 1000)
        print(f"  {sorted(runs)[2]:8.1f} ms  {name}")


if __name__ == "__main__":
    main()
