"""The analytics dashboard page in a real browser over 1,000,000 sample events (issue 13, Speed).

    .venv/bin/python bench/dashboard_page.py [--events 1000000] [--days 365] [--rounds 5]
        [--workers 2] [--database-url postgres://postgres@127.0.0.1:5432/reporting_bench_dashboard_page]

Needs PostgreSQL (--database-url, else DATABASE_URL, else the URL above) and Chromium at
/usr/bin/chromium with Playwright. The organisation `bench-dashboard` (Europe/Berlin) and its
sample data are prepared as bench/dashboard.py prepares them (loaded once, about 75 s for
1,000,000 events, then reused; ANALYZEd), every day of the last year's snapshots refreshed, and an
org-admin staff user made. The static files are collected into VAR_DIR, then gunicorn serves
config.wsgi as the Procfile does (--workers sync workers, DEBUG off) on a free local port; the
cache is Redis when REDIS_URL is set, else the file cache in a temporary VAR_DIR, shared by the
server and this process.

Each round, for "last 30 days" and "this year" (`?range=` in the URL):
  cold    the organisation's analytics answers made stale (the version bump new data does), then
          the page opened in a fresh browser context (signed in, empty HTTP cache);
  warm    the same page opened again in that context: answers cached, static files too;
  direct  the page's own data requests (the same URLs, with its session cookie) sent at once by
          `requests`, one thread each, as the page's Promise.all sends them, cold then warm: the
          server's answer without the browser.
From the Performance API: each data request's duration (resource timing, start to response end),
the time of the `dashboard-ready` mark since navigation start, and the bytes transferred for the
page and every resource; to tell the server's part from the browser's, also when the page's HTML
had arrived and how long drawing took after the last answer. Printed per round, then the minimum
and median of each against the goals (every data request under 300 ms cold, the page usable
under 1.5 s), and the peak RSS of the server's processes (each one's VmHWM, summed). A benchmark,
not a test: exit status 0.
"""

import argparse
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from dashboard import configure_environment, full_refresh, organization_today, prepare
from exports import PROJECT, postgresql_url, setup_django
from ingest import free_port, server_wait

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/reporting_bench_dashboard_page"
PAGE = "/admin/analytics/dashboard/"
RANGES = {"last_30": "last 30 days", "this_year": "this year"}
USERNAME = "bench-dashboard-page-admin"
GOAL_REQUEST_MS, GOAL_READY_MS = 300, 1500
READY_TIMEOUT_MS = 120_000
# The page's data requests (named by endpoint; the overview of the range before is "previous"),
# when it became usable, and what it transferred.
PAGE_TIMINGS = """() => {
    const config = JSON.parse(document.getElementById("dashboard-config").textContent);
    const navigation = performance.getEntriesByType("navigation")[0];
    const resources = performance.getEntriesByType("resource");
    const entries = [navigation, ...resources];
    const sum = key => entries.reduce((total, entry) => total + entry[key], 0);
    const data = resources.filter(entry => entry.name.includes("/api/v1/analytics/"));
    const ready = performance.getEntriesByName("dashboard-ready")[0].startTime;
    return {
        ready_ms: ready,
        html_ms: navigation.responseEnd,
        draw_ms: ready - Math.max(...data.map(entry => entry.responseEnd)),
        requests: data.map(entry => {
                const url = new URL(entry.name);
                const name = url.pathname.replace(/\\/$/, "").split("/").pop();
                const previous = url.searchParams.get("start_date") === config.previous_start_date;
                return {name: previous ? name + " previous" : name, url: entry.name,
                        ms: entry.duration, bytes: entry.decodedBodySize};
            }),
        transferred: sum("transferSize"),
        decoded: sum("decodedBodySize"),
        resources: entries.length,
    };
}"""


def main() -> None:
    arguments = parse_arguments()
    own_folder = "VAR_DIR" not in os.environ
    # Without REDIS_URL this makes a temporary VAR_DIR for the file cache; with it, one is made
    # here for the collected static files.
    configure_environment(postgresql_url(arguments.database_url or DEFAULT_DATABASE_URL))
    # "Cold" is an answer computed: no stale answer served (bench/dashboard_live.py measures
    # those).
    os.environ["ANALYTICS_MAX_STALENESS"] = "0"
    if "VAR_DIR" not in os.environ:
        os.environ["VAR_DIR"] = tempfile.mkdtemp(prefix="bench-dashboard-page-")
    try:
        run(arguments)
    finally:
        if own_folder:
            shutil.rmtree(os.environ["VAR_DIR"], ignore_errors=True)


def run(arguments: argparse.Namespace) -> None:
    setup_django()
    organization = prepare(arguments)
    snapshots_prepare(organization)
    password = admin_prepare(organization)
    static_collect()
    measurements: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    with web_server(arguments.workers) as (base_url, server):
        with browser_signed_in(base_url, password) as browser:
            for preset in RANGES:  # each worker's first request imports the views: not timed
                page_open(browser.page, preset)
            for number in range(1, arguments.rounds + 1):
                for preset in RANGES:
                    round_measure(browser, organization, preset, number, measurements)
        peak_rss = server_peak_rss(server.pid)
    report(measurements, peak_rss, arguments)


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    arguments = parser.parse_args()
    if min(arguments.events, arguments.days, arguments.rounds, arguments.workers) < 1:
        parser.error("--events, --days, --rounds and --workers must be at least 1.")
    return arguments


# --- preparing -------------------------------------------------------------------------------


def snapshots_prepare(organization: Any) -> None:
    """A year of snapshots up to today, so every range the page offers reads them."""
    from datetime import timedelta

    today = organization_today(organization)
    full_refresh(organization, today.replace(month=1, day=1) - timedelta(days=365), today)


def admin_prepare(organization: Any) -> str:
    """A staff user who administers the organisation, with a new password each run."""
    from django.contrib.auth import get_user_model

    from accounts.models import Role
    from accounts.services import membership_set

    user, _ = get_user_model().objects.get_or_create(username=USERNAME)
    password = secrets.token_urlsafe(16)
    user.is_staff = True
    user.set_password(password)
    user.save()
    membership_set(user=user, organization=organization, role=Role.ADMIN)
    return password


def static_collect() -> None:
    """Into VAR_DIR/static, where WhiteNoise serves them from with DEBUG off."""
    from django.core.management import call_command

    call_command("collectstatic", interactive=False, verbosity=0)


@contextmanager
def web_server(workers: int) -> Iterator[tuple[str, subprocess.Popen]]:
    port = free_port()
    server = subprocess.Popen(
        [str(PROJECT / ".venv/bin/gunicorn"), "config.wsgi:application", "--bind",
         f"127.0.0.1:{port}", "--workers", str(workers), "--log-level", "warning"],
        cwd=PROJECT,
    )  # fmt: skip
    try:
        server_wait(port, server)
        yield f"http://127.0.0.1:{port}", server
    finally:
        server.terminate()
        server.wait(timeout=30)


@contextmanager
def browser_signed_in(base_url: str, password: str) -> Iterator[Any]:
    """The tests' headless Chromium, signed in to the admin; a fresh context per cold open."""
    sys.path.insert(0, str(PROJECT))
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # Playwright's loop; see conftest.browser
    from config.tests.browser import VIEWPORT, BrowserSession

    with BrowserSession(base_url=base_url, name="bench-dashboard-page") as session:
        session.admin_login(username=USERNAME, password=password)
        if not session.page.url.endswith("/admin/"):
            raise SystemExit(f"Signing in failed: at {session.page.url}")
        session.signed_in = session.page.context.storage_state()
        session.viewport = VIEWPORT
        yield session
        if session.problems:
            print("The page reported problems:", *session.problems[:10], sep="\n  ")


# --- measuring -------------------------------------------------------------------------------


def answers_stale(organization: Any) -> None:
    from analytics.services import analytics_cache_version_bump

    analytics_cache_version_bump(organization=organization)


def page_open(page: Any, preset: str) -> dict[str, Any]:
    page.goto(f"{PAGE}?range={preset}")
    page.wait_for_selector("body[data-dashboard-ready=true]", timeout=READY_TIMEOUT_MS)
    return page.evaluate(PAGE_TIMINGS)


def direct_requests(urls: list[str], cookies: dict[str, str]) -> list[dict[str, Any]]:
    """The URLs fetched at once, cold then warm, each on its own keep-alive connection."""
    import requests

    sessions = [requests.Session() for _ in urls]
    for session in sessions:
        session.cookies.update(cookies)
        session.headers["Accept"] = "application/json"

    def fetch(session: requests.Session, url: str) -> float:
        started = time.perf_counter()
        response = session.get(url)
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            raise SystemExit(f"{url} answered {response.status_code}: {response.text[:300]}")
        return elapsed

    with ThreadPoolExecutor(len(urls)) as pool:
        results = [list(pool.map(fetch, sessions, urls)) for _ in ("cold", "warm")]
    for session in sessions:
        session.close()
    return results


def round_measure(
    browser: Any, organization: Any, preset: str, number: int, measurements: dict
) -> None:
    answers_stale(organization)
    context = browser.browser.new_context(
        base_url=browser.base_url, viewport=browser.viewport, storage_state=browser.signed_in
    )
    page = context.new_page()
    page.on("console", lambda message: problem_note(browser, message))
    try:
        cold = page_open(page, preset)
        warm = page_open(page, preset)
        cookies = {cookie["name"]: cookie["value"] for cookie in context.cookies()}
    finally:
        context.close()
    requests_named = cold["requests"]
    answers_stale(organization)
    direct = direct_requests([request["url"] for request in requests_named], cookies)
    for state, timings, direct_ms in (("cold", cold, direct[0]), ("warm", warm, direct[1])):
        for request, ms in zip(requests_named, direct_ms, strict=True):
            timings.setdefault("direct", {})[request["name"]] = ms
        measurements[(preset, state, "page")].append(timings)
        round_print(number, preset, state, timings)


def problem_note(browser: Any, message: Any) -> None:
    if message.type == "error":
        browser.problems.append(f"console: {message.text}")


def round_print(number: int, preset: str, state: str, timings: dict[str, Any]) -> None:
    browser = ", ".join(f"{r['name']} {r['ms']:.0f}" for r in timings["requests"])
    direct = ", ".join(f"{name} {ms:.0f}" for name, ms in timings["direct"].items())
    print(
        f"  round {number} {preset:9} {state}: requests ms {browser} (direct {direct}); "
        f"html {timings['html_ms']:.0f} ms, ready {timings['ready_ms']:.0f} ms (drawing "
        f"{timings['draw_ms']:.0f} ms after the last answer); "
        f"{timings['transferred'] / 1024:.0f} KB transferred"
    )


def server_peak_rss(master: int) -> int:
    """Bytes: the master's and its workers' peak resident sizes, summed."""
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    total = 0
    for pid in [master, *map(int, children)]:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                total += int(line.split()[1]) * 1024
    return total


# --- the report ------------------------------------------------------------------------------


def verdict(value: float, goal: float) -> str:
    return "PASS" if value < goal else "MISSED"


def report(measurements: dict, peak_rss: int, arguments: argparse.Namespace) -> None:
    print(
        f"\n{arguments.rounds} rounds, {arguments.events:,} events, gunicorn "
        f"{arguments.workers} workers. ms: minimum / median; direct = the same requests "
        "from `requests`, ratio = browser / direct (minimums)."
    )
    print(f"{'range':10} {'state':5} {'part':22} {'browser':>15} {'direct':>15} {'ratio':>6}  goal")
    for (preset, state, _), rounds in measurements.items():
        for name in [request["name"] for request in rounds[0]["requests"]]:
            browser = [next(r["ms"] for r in t["requests"] if r["name"] == name) for t in rounds]
            direct = [t["direct"][name] for t in rounds]
            goal = ""
            if state == "cold":
                goal = (
                    f"<{GOAL_REQUEST_MS} {verdict(min(browser), GOAL_REQUEST_MS)} / "
                    f"{verdict(statistics.median(browser), GOAL_REQUEST_MS)}"
                )
            print(
                f"{preset:10} {state:5} {name:22} {min_median(browser):>15} "
                f"{min_median(direct):>15} {min(browser) / min(direct):6.2f}  {goal}"
            )
        ready = [t["ready_ms"] for t in rounds]
        goal = f"<{GOAL_READY_MS} {verdict(min(ready), GOAL_READY_MS)} / "
        goal += verdict(statistics.median(ready), GOAL_READY_MS)
        print(f"{preset:10} {state:5} {'usable (dashboard-ready)':22} {min_median(ready):>15} "
              f"{'':>15} {'':>6}  {goal}")  # fmt: skip
        for key, label in (("html_ms", "page html received"), ("draw_ms", "drawing after data")):
            print(f"{preset:10} {state:5} {label:22} {min_median([t[key] for t in rounds]):>15}")
        weight = rounds[0]
        print(
            f"{preset:10} {state:5} {'page weight':22} {weight['transferred'] / 1024:10.0f} KB "
            f"transferred ({weight['decoded'] / 1024:.0f} KB decoded, {weight['resources']} "
            f"resources; data answers {sum(r['bytes'] for r in weight['requests']) / 1024:.0f} KB)"
        )
    print(f"\nServer peak RSS (gunicorn master + workers, VmHWM summed): {peak_rss / 2**20:.0f} MB")
    print("Verdicts: minimum / median of the rounds.")


def min_median(values: list[float]) -> str:
    return f"{min(values):.0f} / {statistics.median(values):.0f}"


if __name__ == "__main__":
    main()
