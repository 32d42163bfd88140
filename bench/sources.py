"""File and Redis data sources into a CSV output: rows per second and peak memory.

    .venv/bin/python bench/sources.py [--rows 1000000] [--keys 100000] [--repeat 2]

file   a CSV file of --rows rows in the 7 columns of bench/table.sql, under a temporary
       REPORT_DATA_DIR, read by the `file` data source (types inferred), spooled, and written
       by the CSV renderer to a file: FileAdapter.spool + CsvRenderer.render. Beside it, a
       bare csv.reader -> csv.writer copy of the same file (no types, no Django).
redis  when REDIS_URL is set and reporting.datasources.redis exists: --keys string keys under
       a fresh prefix, read by the `redis` data source (SCAN) the same way; the keys are
       deleted afterwards.
Each at 100,000 rows (10,000 keys) and at the full size, each run in a fresh process so its
peak RSS (getrusage's ru_maxrss) is its own; the fastest of --repeat runs is kept with the
largest peak. "ready" is the peak before the first row is read: Python, Django and the
renderers (WeasyPrint among them) loaded, the floor under every run. Memory should stay flat
as rows grow: PASS when the full run's peak is within 30 MB of the small run's (the rule of
issue 3). A benchmark, not a test: it exits 0.
"""

import argparse
import csv
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

PROJECT = Path(__file__).resolve().parents[1]
SMALL_ROWS, SMALL_KEYS = 100_000, 10_000
GROWTH_GOAL_MB = 30
REGIONS = ("North", "South", "East", "West", "Central")
KEY_PREFIX = "bench:sources"
WRITE_BATCH = 10_000


def main() -> None:
    arguments = parse_arguments()
    if arguments.run:
        result = RUNS[arguments.run](arguments)
        print(json.dumps(result))
        return
    # This process starts the others and stays small: Linux carries a process's peak RSS over
    # into the ru_maxrss of the children it starts (see bench/exports.py).
    with tempfile.TemporaryDirectory(prefix="bench-sources-") as folder:
        os.environ["REPORT_DATA_DIR"] = folder
        os.environ["REPORT_SPOOL_DIR"] = str(Path(folder) / "spool")
        os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
        lines = file_benchmark(Path(folder), arguments)
        lines += redis_benchmark(Path(folder), arguments)
    print("\n" + "\n".join(lines))


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=2, help="runs of each; the fastest is kept")
    parser.add_argument("--run", choices=tuple(RUNS), help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--token", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if min(arguments.rows, arguments.keys, arguments.repeat) < 1:
        parser.error("--rows, --keys and --repeat must be at least 1.")
    return arguments


# --- the parent ------------------------------------------------------------------------------


def file_benchmark(folder: Path, arguments: argparse.Namespace) -> list[str]:
    sizes = sorted({min(SMALL_ROWS, arguments.rows), arguments.rows})
    results: dict[str, dict[int, dict[str, Any]]] = {"copy": {}, "file": {}}
    for size in sizes:
        started = time.perf_counter()
        csv_write(folder / f"invoices-{size}.csv", size)
        print(f"Wrote a {size:,}-row CSV in {time.perf_counter() - started:.1f} s.")
        for run in results:
            results[run][size] = best_of(run, size, folder, arguments.repeat)
            print(f"  {run:5} {size:>9,} rows: {summary(results[run][size])}")
        (folder / f"invoices-{size}.csv").unlink()
    lines = [
        f"{'file':5} {'rows':>9}  {'s':>6}  {'rows/s':>9}  {'peak MB':>7}  {'ready MB':>8}  "
        f"{'bare copy rows/s':>16}"
    ]
    for size in sizes:
        ours, bare = results["file"][size], results["copy"][size]
        lines.append(
            f"{'csv':5} {size:>9,}  {ours['seconds']:6.2f}  {size / ours['seconds']:>9,.0f}  "
            f"{ours['peak_mb']:7.1f}  {ours['ready_mb']:8.1f}  {size / bare['seconds']:>16,.0f}"
        )
    return [*lines, growth_line("file", results["file"], sizes), ""]


def redis_benchmark(folder: Path, arguments: argparse.Namespace) -> list[str]:
    if not os.environ.get("REDIS_URL"):
        return ["redis: skipped (REDIS_URL is not set)."]
    if not (PROJECT / "reporting" / "datasources" / "redis.py").exists():
        return ["redis: skipped (reporting.datasources.redis does not exist yet)."]
    token = uuid.uuid4().hex
    sizes = sorted({min(SMALL_KEYS, arguments.keys), arguments.keys})
    results: dict[int, dict[str, Any]] = {}
    try:
        child("redis-prepare", arguments.keys, folder, token=token)
        for size in sizes:
            results[size] = best_of("redis", size, folder, arguments.repeat, token=token)
            print(f"  redis {size:>9,} keys: {summary(results[size])}")
    finally:
        child("redis-clean", 0, folder, token=token)
    lines = [f"{'redis':5} {'keys':>9}  {'s':>6}  {'rows/s':>9}  {'peak MB':>7}  {'ready MB':>8}"]
    for size in sizes:
        result = results[size]
        lines.append(
            f"{'string':6}{size:>9,}  {result['seconds']:6.2f}  "
            f"{size / result['seconds']:>9,.0f}  {result['peak_mb']:7.1f}  "
            f"{result['ready_mb']:8.1f}"
        )
    return [*lines, growth_line("redis", results, sizes)]


def best_of(run: str, size: int, folder: Path, repeat: int, **extra: str) -> dict[str, Any]:
    results = [child(run, size, folder, **extra) for _ in range(repeat)]
    for result in results:
        if result["rows_out"] != size:
            raise SystemExit(f"The {run} run of {size:,} wrote {result['rows_out']:,} rows.")
    return {
        "seconds": min(result["seconds"] for result in results),
        "peak_mb": max(result["peak_mb"] for result in results),
        "ready_mb": max(result.get("ready_mb", 0) for result in results),
    }


def child(run: str, size: int, folder: Path, **extra: str) -> dict[str, Any]:
    command = [sys.executable, __file__, "--run", run, "--size", str(size), "--folder", str(folder)]
    for name, value in extra.items():
        command += [f"--{name}", value]
    process = subprocess.run(command, stdout=subprocess.PIPE, check=False, cwd=PROJECT)
    if process.returncode:
        raise SystemExit(f"The {run} run of {size:,} failed.")
    return json.loads(process.stdout)


def summary(result: dict[str, Any]) -> str:
    return (
        f"{result['seconds']:6.2f} s, peak {result['peak_mb']:6.1f} MB "
        f"({result['ready_mb']:.1f} MB before the first row)"
    )


def growth_line(kind: str, results: dict[int, dict[str, Any]], sizes: list[int]) -> str:
    if len(sizes) < 2:
        return f"----  {kind}: one size only, growth not measured"
    growth = results[sizes[-1]]["peak_mb"] - results[sizes[0]]["peak_mb"]
    verdict = "PASS" if growth <= GROWTH_GOAL_MB else "MISS"
    return (
        f"{verdict}  {kind}: peak RSS grows {growth:+.1f} MB from {sizes[0]:,} to "
        f"{sizes[-1]:,} rows (goal: within {GROWTH_GOAL_MB} MB)"
    )


def csv_write(path: Path, rows: int) -> None:
    """The rows of bench/table.sql, as a CSV file with a header."""
    day, start = date(2025, 1, 1), datetime(2025, 1, 1, 8, tzinfo=UTC)
    header = ["id", "customer", "amount", "invoice_date", "booked_at", "paid", "region"]
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(
            [
                n,
                f"Customer {n % 9973:04d} Ltd",
                f"{n * 1.37 % 10000:.2f}",
                (day + timedelta(days=n % 365)).isoformat(),
                (start + timedelta(minutes=n)).isoformat(),
                "true" if n % 3 else "false",
                REGIONS[n % 5],
            ]
            for n in range(1, rows + 1)
        )


# --- the children ----------------------------------------------------------------------------


def measured(export: Any, *args: Any) -> dict[str, Any]:
    ready_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.perf_counter()
    rows_out = export(*args)
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"seconds": seconds, "peak_mb": peak_mb, "ready_mb": ready_mb, "rows_out": rows_out}


def setup_django() -> None:
    import django

    sys.path.insert(0, str(PROJECT))
    django.setup()
    from reporting.renderers import get_renderer

    get_renderer("csv")  # loaded before measuring, as in a worker


def run_copy(arguments: argparse.Namespace) -> dict[str, Any]:
    source = arguments.folder / f"invoices-{arguments.size}.csv"
    output = arguments.folder / f"copy-{arguments.size}.csv"

    def copy() -> int:
        with source.open(newline="", encoding="utf-8") as rows, output.open("w") as out:
            writer = csv.writer(out, lineterminator="\n")
            count = -1  # the header
            for row in csv.reader(rows):
                writer.writerow(row)
                count += 1
        return count

    try:
        return measured(copy)
    finally:
        output.unlink(missing_ok=True)


def run_file(arguments: argparse.Namespace) -> dict[str, Any]:
    setup_django()
    from reporting.datasources.file import FileAdapter

    config = {"path": f"invoices-{arguments.size}.csv"}
    return measured(export_csv, FileAdapter(), config, arguments.folder, arguments.size)


def run_redis(arguments: argparse.Namespace) -> dict[str, Any]:
    setup_django()
    from reporting.datasources.redis import RedisAdapter

    # The first SMALL_KEYS keys are under ":a:", the rest under ":b:" (see run_redis_prepare).
    group = "a:" if arguments.size <= SMALL_KEYS else ""
    config = {"pattern": f"{KEY_PREFIX}:{arguments.token}:{group}*", "shape": "string"}
    return measured(export_csv, RedisAdapter(), config, arguments.folder, arguments.size)


def export_csv(adapter: Any, config: dict[str, Any], folder: Path, size: int) -> int:
    """adapter.spool, then the CSV renderer into a file, as an execution does; the rows out."""
    from zoneinfo import ZoneInfo

    from reporting.renderers import get_renderer
    from reporting.tables import Branding, ReportDocument, SpooledTable

    spool, output = folder / f"spool-{size}", folder / f"output-{size}.csv"
    try:
        columns, row_count = adapter.spool(
            query="", config=config, parameters={}, organization_id=None, path=spool
        )
        table = SpooledTable("rows", "Rows", columns, spool, row_count)
        document = ReportDocument(
            title="Bench",
            slug="bench",
            description="",
            branding=Branding(name="Bench"),
            parameters={},
            generated_at=datetime.now(UTC),
            time_zone=ZoneInfo("UTC"),
            tables=[table],
        )
        with output.open("wb") as out:
            get_renderer("csv").render(document, out)
        return lines_in(output) - 1
    finally:
        spool.unlink(missing_ok=True)
        output.unlink(missing_ok=True)


def lines_in(path: Path) -> int:
    lines = 0
    with path.open("rb") as file:
        while chunk := file.read(1 << 20):
            lines += chunk.count(b"\n")
    return lines


def redis_client() -> Any:
    import redis
    from django.conf import settings

    return redis.Redis.from_url(settings.REPORTING_REDIS["default"])


def run_redis_prepare(arguments: argparse.Namespace) -> dict[str, Any]:
    setup_django()
    client = redis_client()
    for first in range(0, arguments.size, WRITE_BATCH):
        with client.pipeline(transaction=False) as pipeline:
            for n in range(first, min(first + WRITE_BATCH, arguments.size)):
                group = "a" if n < SMALL_KEYS else "b"
                pipeline.set(f"{KEY_PREFIX}:{arguments.token}:{group}:{n}", f"value {n}")
            pipeline.execute()
    return {"keys": arguments.size}


def run_redis_clean(arguments: argparse.Namespace) -> dict[str, Any]:
    setup_django()
    client = redis_client()
    deleted, keys = 0, []
    for key in client.scan_iter(match=f"{KEY_PREFIX}:{arguments.token}:*", count=WRITE_BATCH):
        keys.append(key)
        if len(keys) == WRITE_BATCH:
            deleted += client.unlink(*keys)
            keys = []
    if keys:
        deleted += client.unlink(*keys)
    return {"deleted": deleted}


RUNS = {
    "copy": run_copy,
    "file": run_file,
    "redis": run_redis,
    "redis-prepare": run_redis_prepare,
    "redis-clean": run_redis_clean,
}


if __name__ == "__main__":
    main()
