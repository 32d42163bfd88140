"""The analytics dashboard over a year of 10,000,000 events: snapshots and cache against GROUP BY.

    .venv/bin/python bench/dashboard.py [--events 10000000] [--days 365] [--cold-runs 15]
        [--warm-runs 50] [--baseline-runs 3] [--new-events 10000]
        [--database-url postgres://postgres@127.0.0.1:5432/reporting_bench_dashboard]

Needs PostgreSQL: --database-url, else DATABASE_URL, else the URL above; the database is created
when missing and migrated, with an organisation `bench-dashboard` (Europe/Berlin). Its sample
data (`load_sample_data --reset --events --days`) is loaded when its event count differs from
--events, else reused (about 15 minutes for 10,000,000 on two cores); its tables are then
ANALYZEd (see `statistics_refresh`). The cache is Redis when REDIS_URL is set, else the file
cache in a temporary VAR_DIR (cache.clear() must not empty a cache someone else uses). In order:

  refresh   every day of the range marked dirty, then `snapshots_refresh(organization=...)`:
            the seconds to compute a year of snapshots from the raw tables.
  cold      `dashboard_get(start_date=today-364, end_date=today)` with cache.clear() before
            each call: median of --cold-runs. Goal: under 300 ms.
  warm      the same call with the answer cached: median of --warm-runs. Goal: under 20 ms.
  baseline  the answer's numbers by GROUP BY over the raw tables, in the organisation's zone:
            events per day, type, category and hour (one GROUPING SETS scan), distinct users,
            minutes, sessions and revenue per equipment, quantity and cost per item, revenue by
            source and by payment method: median of --baseline-runs.
  new data  --new-events for today and yesterday through `events_ingest` in batches of 1,000,
            then `snapshots_refresh` timed. Goal: under 2 s. They are deleted afterwards (and
            their days refreshed again), so the next run reuses the load.
When `dashboard_get` cannot be imported (the endpoint is not there yet), the cold and warm parts
say so and are skipped, the rest runs, and the exit status is 1; `--selector NAME` times another
selector taking the same keyword arguments instead. A benchmark, not a test: otherwise the
exit status is 0 (2 when the database is not PostgreSQL).
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from exports import database_create, postgresql_url, setup_django

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/reporting_bench_dashboard"
ORGANIZATION_SLUG, TIME_ZONE = "bench-dashboard", "Europe/Berlin"
NEW_EVENT_PREFIX = "bench-new-"
GOALS_MS = {"cold": 300, "warm": 20, "refresh after new events": 2000}


def main() -> None:
    arguments = parse_arguments()
    configure_environment(postgresql_url(arguments.database_url or DEFAULT_DATABASE_URL))
    setup_django()
    organization = prepare(arguments)
    today = organization_today(organization)
    start_date, end_date = today - timedelta(days=364), today
    print(f"{organization.name}: {start_date} to {end_date} ({TIME_ZONE}), cache {cache_name()}\n")
    results: dict[str, float] = {}
    results["refresh"] = full_refresh(organization, start_date, end_date)
    selector, answer = selector_import(arguments.selector), {}
    if selector:
        query = {"organization": organization, "start_date": start_date, "end_date": end_date}
        answer = answer_time(selector, query, arguments.cold_runs, arguments.warm_runs, results)
    results["baseline"], totals = baseline_time(organization, start_date, end_date, arguments)
    totals_compare(answer.get("overview", {}), totals)
    results |= new_events_refresh(organization, today, arguments.new_events)
    report(results, arguments.selector)
    if not selector:
        raise SystemExit(1)


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--cold-runs", type=int, default=15)
    parser.add_argument("--warm-runs", type=int, default=50)
    parser.add_argument("--baseline-runs", type=int, default=3)
    parser.add_argument("--new-events", type=int, default=10_000)
    parser.add_argument(
        "--selector", default="dashboard_get", help="the analytics.selectors function to time"
    )
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    arguments = parser.parse_args()
    counts = ("events", "days", "cold_runs", "warm_runs", "baseline_runs", "new_events")
    if min(getattr(arguments, name) for name in counts) < 1:
        parser.error("the sizes and run counts must be at least 1.")
    return arguments


def configure_environment(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ["REPORTING_DATABASE_URL"] = ""
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    os.environ["DEBUG"] = "0"  # no query log
    os.environ.setdefault("SECRET_KEY", "bench-dashboard-not-a-secret-" + "x" * 32)
    os.environ["LOG_LEVEL"] = "WARNING"
    if not os.environ.get("REDIS_URL"):
        os.environ["VAR_DIR"] = tempfile.mkdtemp(prefix="bench-dashboard-")
    database_create(url)


def cache_name() -> str:
    from django.conf import settings

    return settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1]


def organization_today(organization: Any) -> date:
    return datetime.now(ZoneInfo(organization.time_zone)).date()


def median_ms(step: Callable[[], Any], runs: int, before: Callable[[], Any] | None = None):
    timings = []
    for _ in range(runs):
        if before:
            before()
        started = time.perf_counter()
        step()
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


# --- preparing -------------------------------------------------------------------------------


def prepare(arguments: argparse.Namespace) -> Any:
    """Migrated, the organisation there, its sample data loaded once for these sizes."""
    from django.core.management import call_command

    from accounts.models import Organization
    from events.models import UsageEvent

    call_command("migrate", verbosity=0, interactive=False)
    organization, _ = Organization.objects.get_or_create(
        slug=ORGANIZATION_SLUG, defaults={"name": "Dashboard benchmark", "time_zone": TIME_ZONE}
    )
    events = UsageEvent.objects.filter(organization=organization)
    events.filter(event_id__startswith=NEW_EVENT_PREFIX).delete()  # an interrupted run's
    if events.count() == arguments.events:
        print(f"Reusing the {arguments.events:,} sample events already loaded.")
    else:
        print(f"Loading {arguments.events:,} sample events over {arguments.days} days.")
        started = time.perf_counter()
        call_command(
            "load_sample_data", "--org", ORGANIZATION_SLUG, "--reset", "--events",
            str(arguments.events), "--days", str(arguments.days),
        )  # fmt: skip
        print(f"  loaded in {time.perf_counter() - started:.0f} s\n")
    statistics_refresh()
    return organization


def statistics_refresh() -> None:
    """ANALYZE the tables read and written: after a bulk load they have no statistics until
    autovacuum runs (if it is on), and without them the ingestion's key lookup scans every event
    of the organisation (1.7 s a batch at 10,000,000 rows instead of 8 ms)."""
    from django.db import connection

    from analytics.models import AnalyticsSnapshot
    from events.models import EquipmentUsageLog, InventoryAnalytics, RevenueAnalytics, UsageEvent

    models = (UsageEvent, EquipmentUsageLog, InventoryAnalytics, RevenueAnalytics,
              AnalyticsSnapshot)  # fmt: skip
    with connection.cursor() as cursor:
        for model in models:
            cursor.execute(f"ANALYZE {connection.ops.quote_name(model._meta.db_table)}")


# --- the parts -------------------------------------------------------------------------------


def full_refresh(organization: Any, start_date: date, end_date: date) -> float:
    """Every day of the range dirty, as after a fresh load, then one refresh, timed."""
    from analytics.services import dirty_days_mark, snapshots_refresh

    days = [start_date + timedelta(days=n) for n in range((end_date - start_date).days + 1)]
    dirty_days_mark(organization=organization, days=days, recount=True)
    started = time.perf_counter()
    refreshed = snapshots_refresh(organization=organization)
    seconds = time.perf_counter() - started
    print(f"  refresh   {refreshed} days of snapshots in {seconds:.1f} s")
    return seconds * 1000


def selector_import(name: str) -> Callable[..., dict] | None:
    try:
        from analytics import selectors

        return getattr(selectors, name)
    except (ImportError, AttributeError) as error:
        print(
            f"  !! analytics.selectors.{name} cannot be imported ({error}): the cold and warm "
            "timings are skipped. Run again once it exists, or pass --selector with another "
            "analytics.selectors function that takes organization, start_date and end_date.",
            file=sys.stderr,
        )
        return None


def answer_time(
    selector: Callable, query: dict, cold_runs: int, warm_runs: int, results: dict[str, float]
) -> dict[str, Any]:
    """The answer; its cold and warm medians go into `results`."""
    from django.core.cache import cache

    answer = selector(**query)
    cold = median_ms(lambda: selector(**query), cold_runs, before=cache.clear)
    selector(**query)
    warm = median_ms(lambda: selector(**query), warm_runs)
    print(f"  cold      median {cold:8.1f} ms of {cold_runs} (cache cleared before each)")
    print(f"  warm      median {warm:8.1f} ms of {warm_runs}")
    print(f"            the answer: {len(answer)} keys ({', '.join(sorted(answer)[:12])})")
    results |= {"cold": cold, "warm": warm}
    return answer


def new_events_refresh(organization: Any, today: date, count: int) -> dict[str, float]:
    """`count` events through the ingestion service, then the refresh of their days, timed."""
    from analytics.services import dirty_days_mark, snapshots_refresh
    from events.models import UsageEvent
    from events.services import events_ingest

    zone = ZoneInfo(organization.time_zone)
    events = new_events(today, zone, count)
    started = time.perf_counter()
    for start in range(0, count, 1000):
        result = events_ingest(
            organization=organization, events=events[start : start + 1000], default_user_id=None
        )
        assert result.stored == len(events[start : start + 1000]), result
    ingested = time.perf_counter() - started
    started = time.perf_counter()
    refreshed = snapshots_refresh(organization=organization)
    refresh = time.perf_counter() - started
    print(f"  new data  {count:,} events ingested in {ingested:.2f} s "
          f"({count / ingested:,.0f}/s in one process, no HTTP)")  # fmt: skip
    print(f"            refresh of {refreshed} days in {refresh * 1000:.0f} ms")
    UsageEvent.objects.filter(
        organization=organization, event_id__startswith=NEW_EVENT_PREFIX
    ).delete()
    # Deleted behind the ingestion's back: today's live counters are counted again too.
    dirty_days_mark(
        organization=organization, days=[today, today - timedelta(days=1)], recount=True
    )
    snapshots_refresh(organization=organization)
    return {"refresh after new events": refresh * 1000}


def new_events(today: date, zone: ZoneInfo, count: int) -> list[dict[str, Any]]:
    """Spread over yesterday and today up to now, in the organisation's zone."""
    start = datetime.combine(today - timedelta(days=1), datetime.min.time(), tzinfo=zone)
    span = (datetime.now(zone) - start).total_seconds()
    kinds = [("login", "authentication"), ("equipment_reservation", "equipment"),
             ("inventory_issue", "inventory"), ("project_update", "project")]  # fmt: skip
    stamp = int(time.time())
    return [
        {
            "event_id": f"{NEW_EVENT_PREFIX}{stamp}-{n}",
            "event_type": kinds[n % len(kinds)][0],
            "event_category": kinds[n % len(kinds)][1],
            "user_id": f"bench-member-{n % 300}",
            "timestamp": (start + timedelta(seconds=span * n / count)).isoformat(),
            "metadata": {"source": "bench"},
        }
        for n in range(count)
    ]


# --- the baseline ----------------------------------------------------------------------------

EVENTS_SQL = """
SELECT (timestamp AT TIME ZONE %(zone)s)::date AS day, event_type, event_category,
       extract(hour FROM timestamp AT TIME ZONE %(zone)s)::int AS hour, count(*)
FROM {events} WHERE organization_id = %(organization)s AND timestamp >= %(low)s
  AND timestamp < %(high)s
GROUP BY GROUPING SETS ((day), (event_type), (event_category), (hour))"""
BASELINE_SQL = {
    "events by day, type, category, hour": EVENTS_SQL,
    "distinct users": """
SELECT count(DISTINCT user_id) FROM {events} WHERE organization_id = %(organization)s
  AND timestamp >= %(low)s AND timestamp < %(high)s""",
    "equipment": """
SELECT equipment_id, count(*), sum(duration_minutes), sum(revenue) FROM {equipment}
WHERE organization_id = %(organization)s AND start_time >= %(low)s AND start_time < %(high)s
GROUP BY equipment_id""",
    "inventory": """
SELECT item_id, sum(quantity_consumed), sum(cost_consumed) FROM {inventory}
WHERE organization_id = %(organization)s AND date BETWEEN %(start)s AND %(end)s
GROUP BY item_id""",
    "revenue": """
SELECT revenue_source, payment_method, count(*), sum(amount) FROM {revenue}
WHERE organization_id = %(organization)s AND timestamp >= %(low)s AND timestamp < %(high)s
GROUP BY GROUPING SETS ((revenue_source), (payment_method))""",
}


def baseline_time(
    organization: Any, start_date: date, end_date: date, arguments: argparse.Namespace
) -> tuple[float, dict[str, int]]:
    """The median milliseconds, and the range's events and distinct users."""
    from django.db import connection

    from events.models import EquipmentUsageLog, InventoryAnalytics, RevenueAnalytics, UsageEvent

    tables = {"events": UsageEvent, "equipment": EquipmentUsageLog,
              "inventory": InventoryAnalytics, "revenue": RevenueAnalytics}  # fmt: skip
    names = {name: model._meta.db_table for name, model in tables.items()}
    zone = ZoneInfo(organization.time_zone)
    parameters = {
        "organization": organization.pk, "zone": organization.time_zone,
        "start": start_date, "end": end_date,
        "low": datetime.combine(start_date, datetime.min.time(), tzinfo=zone),
        "high": datetime.combine(end_date + timedelta(days=1), datetime.min.time(), tzinfo=zone),
    }  # fmt: skip
    answers: dict[str, list] = {}

    def run() -> None:
        with connection.cursor() as cursor:
            for name, sql in BASELINE_SQL.items():
                cursor.execute(sql.format(**names), parameters)
                answers[name] = cursor.fetchall()

    median = median_ms(run, arguments.baseline_runs)
    days = [row for row in answers["events by day, type, category, hour"] if row[0]]
    totals = {
        "total_events": sum(row[4] for row in days),
        "active_users": answers["distinct users"][0][0],
    }
    print(
        f"  baseline  median {median:8.1f} ms of {arguments.baseline_runs}: "
        f"{totals['total_events']:,} events on {len(days)} days, "
        f"{totals['active_users']:,} distinct users, "
        f"{len(answers['equipment'])} machines, {len(answers['inventory'])} items"
    )
    return median, totals


def totals_compare(overview: dict[str, Any], totals: dict[str, int]) -> None:
    """A sanity check, not the tests' job: the answer's headline numbers against GROUP BY's."""
    for name, expected in totals.items():
        if name in overview:
            verdict = "the same as" if overview[name] == expected else "!! NOT the same as"
            print(
                f"            overview {name} {overview[name]:,}: {verdict} GROUP BY's {expected:,}"
            )


# --- the report ------------------------------------------------------------------------------


def report(results: dict[str, float], selector: str) -> None:
    baseline = results["baseline"]
    print(f"\n{'part':26} {'ms':>9} {'x baseline':>11} {'goal':>9}")
    for name, ms in results.items():
        goal = GOALS_MS.get(name)
        verdict = f"<{goal} {'PASS' if ms < goal else 'MISS'}" if goal else ""
        ratio = f"{ms / baseline:11.3f}" if name in ("cold", "warm") else ""
        print(f"{name:26} {ms:9.1f} {ratio:>11} {verdict:>9}")
    if selector != "dashboard_get":
        print(f"\n(cold and warm timed {selector}, not dashboard_get)")


if __name__ == "__main__":
    main()
