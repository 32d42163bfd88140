"""The analytics dashboard under live ingestion (issue 15): dashboard p50 and p99 while events
arrive through the API, against the code before live roll-ups (the baseline).

    .venv/bin/python bench/dashboard_live.py [--events 1000000] [--rounds 3] [--seconds 30]
        [--rate 10000] [--clients 4] [--readers 2] [--workers 4] [--baseline-ref 03cf491]
        [--database-url postgres://postgres@127.0.0.1:5432/reporting_bench_dashboard_live]

Needs PostgreSQL and Redis (REDIS_URL, else redis://127.0.0.1:6379; databases 4 and 5 of it
are flushed, as cache and broker). The organisation `bench-dashboard` (Europe/Berlin) and
--events sample events over a year are loaded once as bench/dashboard.py loads them (about 75 s
for 1,000,000), then reused. The baseline is the project at --baseline-ref, checked out once in a
git worktree under the system's temporary folder.

Each round runs the baseline and this code one after the other (the order alternating), each
on the same data: the previous run's events deleted, the last 31 days' roll-ups rebuilt from the
raw rows, the cache and broker emptied. A run starts gunicorn as the Procfile does (--workers
sync workers, DEBUG off) and one Celery worker on the `analytics` queue, asks for the dashboard
once (its first answer, computed), then for --seconds:
  --clients threads post batches of 1,000 events at --rate events/s in all (80 % timestamped in
            the last minute, 20 % on one of the last 30 days: late events);
  --readers threads ask for the dashboard answer the admin page uses
            (/api/v1/analytics/dashboard, the last 30 days, daily), each every --interval
            seconds (or at once when an answer took longer), so both sides serve the same
            requests while ingesting.
Then, ingestion stopped, the dashboard is asked every second until its event totals, events by
type and active users equal a GROUP BY over the raw events (the time this took is printed;
ANALYTICS_MAX_STALENESS bounds it for this code, 60 s unless set).

Printed: each run's p50, p99 and max of the dashboard answers, the events/s reached, whether the
totals matched and after how long, the load average; then the medians over the rounds, the ratio
baseline / this code, the peak RSS of each side's processes (VmHWM, gunicorn and Celery summed),
and PASS/MISSED against the goal (p99 <= 300 ms, totals equal to GROUP BY's). A benchmark, not a
test: exit status 0.
"""

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from dashboard import TIME_ZONE, configure_environment, prepare
from exports import PROJECT, postgresql, postgresql_url, setup_django
from ingest import EVENT_KINDS, free_port, load_average, memory_kb, server_wait, table_vacuum

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/reporting_bench_dashboard_live"
DASHBOARD = "/api/v1/analytics/dashboard"
EVENTS = "/api/v1/analytics/events"
EVENT_PREFIX = "live-"
BATCH = 1000
GOAL_P99_MS = 300
USERNAME = "bench-dashboard-live-admin"
RUNS = ("baseline", "ours")


@dataclass
class Run:
    name: str
    timings_ms: list[float] = field(default_factory=list)
    first_ms: float = 0.0
    events_per_second: float = 0.0
    failures: int = 0
    converged_s: float | None = None
    totals_equal: bool = False
    peak_kb: int = 0
    load: str = ""

    def percentile(self, share: float) -> float:
        ordered = sorted(self.timings_ms)
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else 0.0


def main() -> None:
    arguments = parse_arguments()
    url = postgresql_url(arguments.database_url or DEFAULT_DATABASE_URL)
    server = urlsplit(os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379")
    redis = f"{server.scheme}://{server.netloc}"
    configure_environment(url)
    os.environ |= {"REDIS_URL": f"{redis}/4", "CELERY_BROKER_URL": f"{redis}/5",
                   "JWT_ACCESS_MINUTES": "240"}  # fmt: skip
    setup_django()
    from analytics.services import snapshots_refresh

    leftovers_delete(url)  # an interrupted run's, before prepare() counts the events
    organization = prepare(arguments)
    snapshots_refresh(organization=organization)  # a fresh load's days, once
    token = token_make(organization)
    projects = {"ours": PROJECT, "baseline": baseline_checkout(arguments.baseline_ref)}
    print(f"{arguments.events:,} events; {arguments.rounds} rounds of {arguments.seconds} s at "
          f"{arguments.rate:,} events/s from {arguments.clients} clients, {arguments.readers} "
          f"dashboard readers, {arguments.workers} gunicorn workers x {arguments.threads} "
          "threads\n")  # fmt: skip
    rounds: list[dict[str, Run]] = []
    for number in range(arguments.rounds):
        order = RUNS if number % 2 == 0 else RUNS[::-1]
        results = {}
        for name in order:
            data_reset(url, organization, redis)
            results[name] = run(name, projects[name], organization, token, arguments)
            print(run_line(number + 1, results[name]), flush=True)
        rounds.append(results)
    data_reset(url, organization, redis)
    report(rounds)


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="existing sample events")
    parser.add_argument("--days", type=int, default=365, help="days the sample events span")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=30, help="ingestion per run")
    parser.add_argument("--rate", type=int, default=10_000, help="events/s, all clients")
    parser.add_argument("--clients", type=int, default=4, help="ingesting threads")
    parser.add_argument("--readers", type=int, default=4, help="dashboard-reading threads")
    parser.add_argument("--interval", type=float, default=0.25,
                        help="seconds between a reader's requests (from one's start to the "
                             "next's), as a page polls; the same load on both sides")  # fmt: skip
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=4,
                        help="threads per gunicorn worker (gthread): a dashboard read does not "
                             "wait for a worker busy with a batch")  # fmt: skip
    parser.add_argument("--converge-timeout", type=float, default=150)
    parser.add_argument("--baseline-ref", default="03cf491")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    return parser.parse_args()


# --- preparing -------------------------------------------------------------------------------


def token_make(organization: Any) -> str:
    from django.contrib.auth import get_user_model
    from rest_framework_simplejwt.tokens import RefreshToken

    from accounts.models import Membership, Role

    user, _ = get_user_model().objects.get_or_create(username=USERNAME)
    Membership.objects.update_or_create(
        user=user, organization=organization, defaults={"role": Role.ADMIN}
    )
    return str(RefreshToken.for_user(user).access_token)


def baseline_checkout(ref: str) -> Path:
    folder = Path(tempfile.gettempdir()) / f"reporting-hub-baseline-{ref}"
    if not folder.exists():
        subprocess.run(["git", "-C", str(PROJECT), "worktree", "add", "--detach", str(folder),
                        ref], check=True, capture_output=True)  # fmt: skip
    if not (folder / ".venv").exists():
        (folder / ".venv").symlink_to(PROJECT / ".venv")
    return folder


def leftovers_delete(url: str) -> None:
    with postgresql(url) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('events_usageevent') IS NOT NULL")
        if cursor.fetchone()[0]:
            cursor.execute("DELETE FROM events_usageevent WHERE event_id LIKE %s",
                           [EVENT_PREFIX + "%"])  # fmt: skip


def data_reset(url: str, organization: Any, redis: str) -> None:
    """The previous run's events gone, the last 31 days' roll-ups (snapshots, and this code's
    live counters) rebuilt from the raw rows, cache and broker emptied."""
    import redis as redis_client

    from analytics.services import snapshots_rebuild

    with postgresql(url) as connection, connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM events_usageevent WHERE organization_id = %s AND event_id LIKE %s",
            [organization.pk, EVENT_PREFIX + "%"],
        )
    today = datetime.now(ZoneInfo(TIME_ZONE)).date()
    snapshots_rebuild(organization=organization, start_date=today - timedelta(days=31),
                      end_date=today)  # fmt: skip
    for database in (4, 5):
        redis_client.Redis.from_url(f"{redis}/{database}").flushdb()
    table_vacuum(url)


# --- one run ---------------------------------------------------------------------------------


def run(name: str, project: Path, organization: Any, token: str, arguments) -> Run:
    result = Run(name)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    bodies = bodies_make(int(arguments.rate * arguments.seconds))
    with services(project, arguments.workers, arguments.threads) as (base_url, pids):
        query = range_query(organization)
        started = time.perf_counter()
        dashboard_ask(base_url, headers, query)
        result.first_ms = (time.perf_counter() - started) * 1000
        stop = threading.Event()
        readers = [threading.Thread(target=reader, args=(base_url, headers, query, stop,
                                                         arguments.interval, result.timings_ms))
                   for _ in range(arguments.readers)]  # fmt: skip
        for thread in readers:
            thread.start()
        sent, seconds, result.failures = ingest(base_url, headers, bodies, arguments)
        stop.set()
        for thread in readers:
            thread.join()
        result.events_per_second = sent / seconds
        result.load = load_average()
        result.converged_s, result.totals_equal = converge(
            base_url, headers, query, organization, arguments.converge_timeout
        )
        result.peak_kb = sum(memory_kb(pid, "VmHWM") for pid in pids())
    return result


@contextmanager
def services(project: Path, workers: int, threads: int):
    """gunicorn as the Procfile starts it and a Celery worker on the analytics queue, both
    running `project`'s code; yields the base URL and a function listing their pids."""
    port = free_port()
    environment = {**os.environ, "PYTHONPATH": str(project)}
    web = subprocess.Popen(
        [str(PROJECT / ".venv/bin/gunicorn"), "-c", "config/gunicorn.py", "config.wsgi:application",
         "--bind", f"127.0.0.1:{port}", "--workers", str(workers), "--threads", str(threads),
         "--log-level", "warning"],
        cwd=project, env=environment,
    )  # fmt: skip
    worker = subprocess.Popen(
        [str(PROJECT / ".venv/bin/celery"), "-A", "config", "worker", "-Q", "analytics",
         "--concurrency", "1", "--loglevel", "ERROR"],
        cwd=project, env=environment,
    )  # fmt: skip

    def pids() -> list[int]:
        return [web.pid, worker.pid, *children(web.pid), *children(worker.pid)]

    try:
        server_wait(port, web)
        yield f"http://127.0.0.1:{port}", pids
    finally:
        for process in (web, worker):
            process.terminate()
        for process in (web, worker):
            process.wait(timeout=60)


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in path.read_text().split()] if path.exists() else []


def range_query(organization: Any) -> dict[str, str]:
    """The admin page's default range: the last 30 days."""
    today = datetime.now(ZoneInfo(organization.time_zone)).date()
    return {"start_date": (today - timedelta(days=29)).isoformat(), "end_date": today.isoformat(),
            "period": "daily"}  # fmt: skip


def dashboard_ask(base_url: str, headers: dict, query: dict) -> dict[str, Any]:
    import requests

    response = requests.get(base_url + DASHBOARD, params=query, headers=headers, timeout=120)
    response.raise_for_status()
    return response.json()


def reader(base_url: str, headers: dict, query: dict, stop: threading.Event, interval: float,
           timings: list) -> None:  # fmt: skip
    import requests

    with requests.Session() as session:
        while not stop.is_set():
            started = time.perf_counter()
            response = session.get(base_url + DASHBOARD, params=query, headers=headers, timeout=120)
            timings.append((time.perf_counter() - started) * 1000)
            response.raise_for_status()
            stop.wait(max(0.0, interval - (time.perf_counter() - started)))


def bodies_make(count: int) -> list[bytes]:
    """Batches of new events: 80 % of the last minute, 20 % late ones of the last 30 days."""
    rng = random.Random()
    now = datetime.now(UTC).replace(microsecond=0)
    run_id = f"{EVENT_PREFIX}{rng.getrandbits(32):08x}"
    kinds = rng.choices(EVENT_KINDS, weights=[w for _, _, w in EVENT_KINDS], k=count)
    events = []
    for n, (event_type, category, _) in enumerate(kinds):
        late = rng.random() < 0.2
        moment = now - timedelta(seconds=rng.randrange(30 * 86_400 if late else 60))
        events.append({"event_id": f"{run_id}-{n:09d}", "event_type": event_type,
                       "event_category": category, "user_id": f"member-{rng.randrange(3000):05d}",
                       "timestamp": moment.isoformat().replace("+00:00", "Z")})  # fmt: skip
    return [json.dumps({"events": events[start : start + BATCH]}).encode()
            for start in range(0, len(events), BATCH)]  # fmt: skip


def ingest(base_url: str, headers: dict, bodies: list[bytes], arguments) -> tuple[int, float, int]:
    """Every client sends its share of the batches, paced to the rate; returns the events
    stored, the seconds taken, and the batches refused."""
    interval = arguments.clients * BATCH / arguments.rate
    shares = [bodies[n :: arguments.clients] for n in range(arguments.clients)]
    counts = [[0, 0] for _ in shares]
    started = time.perf_counter()
    threads = [threading.Thread(target=client, args=(base_url, headers, share, interval, count))
               for share, count in zip(shares, counts, strict=True)]  # fmt: skip
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    return sum(c[0] for c in counts), seconds, sum(c[1] for c in counts)


def client(base_url: str, headers: dict, bodies: list[bytes], interval: float, count: list):
    import requests

    with requests.Session() as session:
        due = time.perf_counter()
        for body in bodies:
            time.sleep(max(0.0, due - time.perf_counter()))
            due += interval
            response = session.post(base_url + EVENTS, data=body, headers=headers, timeout=120)
            if response.status_code == 201:
                count[0] += response.json()["stored"]
            else:
                count[1] += 1


# --- checking --------------------------------------------------------------------------------


def converge(base_url, headers, query, organization, timeout: float) -> tuple[float | None, bool]:
    """Seconds until the dashboard's totals equal the raw rows' GROUP BY, asked every second."""
    expected = group_by(organization, date.fromisoformat(query["start_date"]),
                        date.fromisoformat(query["end_date"]))  # fmt: skip
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        usage = dashboard_ask(base_url, headers, query)["usage"]
        seen = (usage["totals"]["events"], usage["events_by_type"], usage["totals"]["active_users"])
        if seen == expected:
            return time.perf_counter() - started, True
        time.sleep(1)
    return None, False


def group_by(organization: Any, start: date, end: date) -> tuple[int, dict[str, int], int]:
    from django.db import connection

    zone = ZoneInfo(organization.time_zone)
    bounds = [datetime.combine(start, datetime.min.time(), zone),
              datetime.combine(end + timedelta(days=1), datetime.min.time(), zone)]  # fmt: skip
    where = "organization_id = %s AND timestamp >= %s AND timestamp < %s"
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT event_type, count(*) FROM events_usageevent WHERE {where} "
                       "GROUP BY event_type", [organization.pk, *bounds])  # fmt: skip
        by_type = dict(sorted(cursor.fetchall()))
        cursor.execute(f"SELECT count(DISTINCT user_id) FROM events_usageevent WHERE {where}",
                       [organization.pk, *bounds])  # fmt: skip
        users = cursor.fetchone()[0]
    return sum(by_type.values()), by_type, users


# --- reporting -------------------------------------------------------------------------------


def run_line(number: int, result: Run) -> str:
    converged = f"after {result.converged_s:.0f} s" if result.totals_equal else "NOT EQUAL"
    return (
        f"round {number} {result.name:8} p50 {result.percentile(0.5):7.0f} ms  "
        f"p99 {result.percentile(0.99):7.0f} ms  max {max(result.timings_ms, default=0):7.0f} ms  "
        f"({len(result.timings_ms)} answers; first {result.first_ms:.0f} ms)  "
        f"{result.events_per_second:7,.0f} events/s ({result.failures} batches refused)  "
        f"totals = GROUP BY {converged}  load {result.load}"
    )


def report(rounds: list[dict[str, Run]]) -> None:
    median = {name: {key: statistics.median(getattr_percentile(r[name], key) for r in rounds)
                     for key in ("p50", "p99")} for name in RUNS}  # fmt: skip
    peak = {name: max(r[name].peak_kb for r in rounds) for name in RUNS}
    print("\nmedian over the rounds      p50        p99     peak RSS")
    for name in RUNS:
        print(f"  {name:10} {median[name]['p50']:12.0f} ms {median[name]['p99']:7.0f} ms "
              f"{peak[name] / 1024:8.0f} MB")  # fmt: skip
    ratio = {key: median["baseline"][key] / max(median["ours"][key], 0.001)
             for key in ("p50", "p99")}  # fmt: skip
    print(f"  baseline / ours: p50 {ratio['p50']:.1f}x, p99 {ratio['p99']:.1f}x")
    equal = all(r["ours"].totals_equal for r in rounds)
    met = median["ours"]["p99"] <= GOAL_P99_MS and equal
    print(f"goal: p99 <= {GOAL_P99_MS} ms while ingesting, totals = GROUP BY once stopped: "
          f"{'PASS' if met else 'MISSED'} (load average now {load_average()}, "
          f"{os.cpu_count()} cores)")  # fmt: skip


def getattr_percentile(result: Run, key: str) -> float:
    return result.percentile(0.5 if key == "p50" else 0.99)


if __name__ == "__main__":
    sys.exit(main())
