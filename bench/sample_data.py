"""`load_sample_data` speed and memory at two sizes, on PostgreSQL (COPY for events).

    .venv/bin/python bench/sample_data.py [--events 10000000] [--small 100000] [--days 365]
        [--database-url postgres://postgres@127.0.0.1:5432/reporting_bench]

Needs PostgreSQL: --database-url, else DATABASE_URL, else the URL above; the database is
created when missing and migrated, with an organisation `bench-samples`. Each size runs
`load_sample_data --reset` in a fresh process, so each peak RSS (getrusage ru_maxrss) is its
own; the time covers clearing the previous load, generating and inserting. The organisation's
analytics data is dropped at the end. A benchmark, not a test: the exit status is 0 (2 when the
database is not PostgreSQL).
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time

from exports import database_create, postgresql_url, setup_django

ORGANIZATION_SLUG = "bench-samples"


def main() -> None:
    arguments = parse_arguments()
    if arguments.run == "prepare":
        prepare()
    elif arguments.run == "load":
        print(json.dumps(measure(arguments.events, arguments.days)))
    elif arguments.run == "drop":
        setup_django()
        from django.core.management import call_command

        call_command("load_sample_data", "--org", ORGANIZATION_SLUG, "--drop")
    else:
        benchmark(arguments)


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--small", type=int, default=100_000, help="the smaller size")
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    parser.add_argument("--run", choices=("prepare", "load", "drop"), help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if min(arguments.events, arguments.small, arguments.days) < 1:
        parser.error("--events, --small and --days must be at least 1.")
    return arguments


def benchmark(arguments: argparse.Namespace) -> None:
    os.environ["DATABASE_URL"] = postgresql_url(arguments.database_url)
    os.environ["REPORTING_DATABASE_URL"] = ""
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    # With DEBUG on, Django keeps the last 9,000 queries' SQL, bulk_create batches included.
    os.environ["DEBUG"] = "0"
    child("prepare")
    print(f"load_sample_data --reset over {arguments.days} days, each run in a fresh process\n")
    for events in sorted({min(arguments.small, arguments.events), arguments.events}):
        result = json.loads(child("load", "--events", str(events), "--days", str(arguments.days)))
        rows = sum(result["counts"].values())
        print(
            f"  {events:>11,} events ({rows:,} rows in all): {result['seconds']:7.1f} s, "
            f"{events / result['seconds']:9,.0f} events/s, peak RSS {result['peak_mb']:6.1f} MB"
        )
    child("drop")


def child(run: str, *extra: str) -> str:
    process = subprocess.run(
        [sys.executable, __file__, "--run", run, *extra], stdout=subprocess.PIPE, check=False
    )
    if process.returncode:
        raise SystemExit(f"The {run} run failed.")
    return process.stdout.decode()


def prepare() -> None:
    database_create(os.environ["DATABASE_URL"])
    setup_django()
    from django.core.management import call_command

    from accounts.models import Organization

    call_command("migrate", verbosity=0, interactive=False)
    Organization.objects.get_or_create(
        slug=ORGANIZATION_SLUG, defaults={"name": "Sample data benchmark"}
    )


def measure(events: int, days: int) -> dict:
    setup_django()
    from django.core.management import call_command

    from analytics.samples import MODELS

    started = time.perf_counter()
    call_command(
        "load_sample_data", "--org", ORGANIZATION_SLUG, "--reset", "--events", str(events),
        "--days", str(days), stdout=sys.stderr,
    )  # fmt: skip
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    counts = {
        kind: model.objects.filter(organization__slug=ORGANIZATION_SLUG).count()
        for kind, model in MODELS.items()
    }
    return {"seconds": seconds, "peak_mb": peak_mb, "counts": counts}


if __name__ == "__main__":
    main()
