"""CSV and XLSX speed and memory: the real execution path against bare baselines, both reading
the reporting schema as an organisation admin's report would.

    .venv/bin/python bench/exports.py [--rows 1000000] [--skip-xlsx-full]
        [--database-url postgres://postgres@127.0.0.1:5432/reporting_bench] [--repeat 2]

Needs PostgreSQL: --database-url, else DATABASE_URL, else the URL above; its user needs
CREATEROLE. The database is created when missing and migrated. Two organisations are made with
accounts.services.organization_create (so each gets its PostgreSQL role), and the table behind
the view `reporting.revenue_transactions` (events_revenueanalytics) gets --rows payments of the
benchmark organisation and a tenth as many of the other, their times interleaved
(bench/table.sql; reloaded when the counts differ, then vacuumed and analysed). The benchmark
organisation gets a `database` data source reading the view, QUERY below, and a template over it.

For 100,000 rows and for --rows, each run in a fresh process, so each peak RSS is its own; every
run reads the view as the benchmark organisation's role (search_path `reporting`), so the view's
organisation filter does the same work on both sides:
  csv   baseline: COPY (the same query, the same rows bound) TO STDOUT WITH CSV HEADER to a file,
                  on a bare psycopg2 connection as the role
        ours:     execution_request + execution_run, format csv (data source, renderer, storage)
  xlsx  baseline: a bare XlsxWriter constant_memory loop, write_row per row, the rows fetched
                  in batches from a psycopg2 named (server-side) cursor as the role
        ours:     the same execution path, format xlsx
Every output must hold exactly the rows asked for and none of the other organisation's (their
transaction ids start FOREIGN-), or the benchmark stops.
Peak RSS is getrusage's ru_maxrss of the measuring process; the goals are judged on it. The
largest finished child's (RUSAGE_CHILDREN) is printed beside it, not added: the only children
are the ldconfig/gcc/ld probes that WeasyPrint's library loading starts while Django sets up,
long before the export, and Linux gives a child the peak of the process it was forked from, so
adding it would count the same pages twice. Each run is repeated (--repeat) and the fastest time
kept, with the largest peak RSS of the repeats; baseline and ours alternate, so a slow spell
of this shared machine falls on both.
Goals (issue 3; issue 10 keeps them through the views), at --rows: ours/baseline time at most
1.5 (CSV) and 1.15 (XLSX); ours peak RSS under 150 MB (CSV) and 200 MB (XLSX), and within 30 MB
of the 100,000-row run. A benchmark, not a test: misses are printed and the exit status is 0 (2
when the database is not PostgreSQL).
"""

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

PROJECT = Path(__file__).resolve().parents[1]
TABLE_SQL = Path(__file__).with_name("table.sql")
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/reporting_bench"
# The view is a security_barrier subquery, so no index serves this ORDER BY: the server sorts
# the organisation's rows on both sides alike, as any report author's ordered query would.
QUERY = (
    "SELECT transaction_id, timestamp, revenue_source, amount, currency, payment_method, "
    "customer_id FROM revenue_transactions ORDER BY timestamp, id LIMIT %(rows)s"
)
SMALL_ROWS = 100_000
FETCH_BATCH = 2000
ORGANIZATION_SLUG, OTHER_SLUG, TEMPLATE_SLUG = "bench", "bench-other", "bench-revenue"
FOREIGN_MARK = b"FOREIGN-"  # how the other organisation's transaction ids start
ROLE_VARIABLE = "BENCH_REPORT_ROLE"  # the role's name and password, for the baseline runs
TIME_GOALS = {"csv": 1.5, "xlsx": 1.15}  # ours / baseline
MEMORY_GOALS_MB = {"csv": 150, "xlsx": 200}
GROWTH_GOAL_MB = 30
RUNS = ("baseline", "ours")


def main() -> None:
    arguments = parse_arguments()
    if arguments.run == "prepare":
        prepare(os.environ["DATABASE_URL"], arguments.rows, arguments.output)
    elif arguments.run:
        result = measure(arguments.run, arguments.format, arguments.rows, arguments.output)
        print(json.dumps(result))
    else:
        benchmark(arguments)


def benchmark(arguments: argparse.Namespace) -> None:
    # This process only starts the others and stays small: Linux carries a process's peak RSS
    # over into the ru_maxrss of the children it starts, so a large parent (Django, a 1M-row
    # table) would set a floor under every child's figure.
    url = postgresql_url(arguments.database_url)
    with tempfile.TemporaryDirectory(prefix="bench-exports-") as folder:
        configure_environment(url, Path(folder))
        role_file = Path(folder) / "role.json"
        prepared = [sys.executable, __file__, "--run", "prepare", "--rows", str(arguments.rows)]
        if subprocess.run([*prepared, "--output", str(role_file)], check=False).returncode:
            raise SystemExit("Preparing the benchmark database failed.")
        os.environ[ROLE_VARIABLE] = role_file.read_text(encoding="utf-8")
        role = json.loads(os.environ[ROLE_VARIABLE])["user"]
        cases = plan(arguments.rows, skip_xlsx_full=arguments.skip_xlsx_full)
        print(
            f"reporting.revenue_transactions as role {role}: {arguments.rows:,} rows of its "
            f"organisation (and {other_rows(arguments.rows):,} of another), 7 columns; "
            f"each run in a fresh process, best of {arguments.repeat}\n"
        )
        results = [compare(*case, Path(folder), arguments.repeat) for case in cases]
    print_results(results, arguments.rows)


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    parser.add_argument("--skip-xlsx-full", action="store_true", help="XLSX at 100,000 rows only")
    parser.add_argument("--repeat", type=int, default=2, help="runs of each; the fastest is kept")
    parser.add_argument("--run", choices=("prepare", *RUNS), help=argparse.SUPPRESS)
    parser.add_argument("--format", choices=tuple(TIME_GOALS), help=argparse.SUPPRESS)
    parser.add_argument("--output", type=Path, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.rows < 1 or arguments.repeat < 1:
        parser.error("--rows and --repeat must be at least 1.")
    return arguments


def postgresql_url(url: str | None) -> str:
    url = url or DEFAULT_DATABASE_URL
    if urlsplit(url).scheme not in ("postgres", "postgresql", "pgsql"):
        print(
            f"This benchmark needs PostgreSQL (its baseline is COPY), not {url!r}: pass "
            "--database-url postgres://USER@HOST:PORT/reporting_bench or set DATABASE_URL.",
            file=sys.stderr,
        )
        raise SystemExit(2)
    return url


def configure_environment(url: str, folder: Path) -> None:
    """Inherited by the processes this one starts; Django's settings read it there."""
    os.environ["DATABASE_URL"] = url
    os.environ["REPORTING_DATABASE_URL"] = ""  # the `reporting` alias is this same database
    os.environ["REPORT_OUTPUT_DIR"] = str(folder / "outputs")
    os.environ["REPORT_SPOOL_DIR"] = str(folder / "spool")
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"


# --- preparing the database ------------------------------------------------------------------


def prepare(url: str, rows: int, role_file: Path) -> None:
    """The database, organisations, rows and template; the role's login written to role_file."""
    database_create(url)
    setup_django()
    from django.core.management import call_command

    from accounts.database_roles import organization_role_ensure

    call_command("migrate", verbosity=0, interactive=False)
    organization = organization_ensure(ORGANIZATION_SLUG, "Benchmark")
    other = organization_ensure(OTHER_SLUG, "Benchmark neighbour")
    table_ensure(url, rows, organization_id=organization.pk, other_id=other.pk)
    template_ensure(organization)
    # Ensured here too: an organisation of an earlier run may predate its role.
    role = organization_role_ensure(organization_id=organization.pk)
    role_file.write_text(json.dumps({"user": role.name, "password": role.password}))


def database_create(url: str) -> None:
    import psycopg2
    from psycopg2 import sql

    name = urlsplit(url).path.lstrip("/")
    maintenance = urlunsplit(urlsplit(url)._replace(path="/postgres"))
    connection = psycopg2.connect(maintenance)
    connection.autocommit = True  # CREATE DATABASE cannot run inside a transaction
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
            if not cursor.fetchone():
                print(f"Creating database {name}.")
                cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    finally:
        connection.close()


@contextmanager
def postgresql(url: str, **parameters: str) -> Iterator[Any]:
    """A psycopg2 connection, committed when the block ends without error, then closed;
    `parameters` override the URL's (user, password, options)."""
    import psycopg2

    connection = psycopg2.connect(url, **parameters)
    try:
        with connection:
            yield connection
    finally:
        connection.close()


def organization_ensure(slug: str, name: str) -> Any:
    from accounts.models import Organization
    from accounts.services import organization_create

    found = Organization.objects.filter(slug=slug).first()
    return found or organization_create(name=name, slug=slug)


def other_rows(rows: int) -> int:
    return max(rows // 10, 1)


def table_ensure(url: str, rows: int, *, organization_id: Any, other_id: Any) -> None:
    values = {"bench": str(organization_id), "other": str(other_id)}
    wanted = {values["bench"]: rows, values["other"]: other_rows(rows)}
    with postgresql(url) as connection, connection.cursor() as cursor:
        cursor.execute(
            "SELECT organization_id::text, count(*) FROM events_revenueanalytics "
            "WHERE organization_id IN (%(bench)s, %(other)s) GROUP BY organization_id",
            values,
        )
        if dict(cursor.fetchall()) != wanted:
            print(f"Loading events_revenueanalytics: {rows:,} + {other_rows(rows):,} rows.")
            sql = TABLE_SQL.read_text(encoding="utf-8")
            cursor.execute(sql, {**values, "rows": rows, "other_rows": other_rows(rows)})
    table_vacuum(url)


def table_vacuum(url: str) -> None:
    """VACUUM (ANALYZE), on every prepare (quick when nothing changed): besides the statistics
    it sets the hint bits and visibility map, which the first timed reader would pay for."""
    import psycopg2

    connection = psycopg2.connect(url)
    connection.autocommit = True  # VACUUM cannot run inside a transaction
    connection.autocommit = True
    try:
        connection.cursor().execute("VACUUM (ANALYZE) events_revenueanalytics")
    finally:
        connection.close()


def template_ensure(organization: Any) -> None:
    """The data source and template, made once (the query kept current); earlier runs'
    executions go."""
    from reporting.models import DataSource, ReportExecution, ReportTemplate
    from reporting.services.templates import (
        data_source_create,
        data_source_update,
        template_create,
    )

    source = DataSource.objects.filter(organization=organization, name="Revenue").first()
    if source and source.query != QUERY:
        data_source_update(data_source=source, query=QUERY)
    template = ReportTemplate.objects.filter(organization=organization, slug=TEMPLATE_SLUG).first()
    if template:
        ReportExecution.objects.filter(template=template).delete()
        return
    source = source or data_source_create(
        organization=organization,
        created_by=None,
        name="Revenue",
        source_type="database",
        query=QUERY,
        config={},
    )
    template_create(
        organization=organization,
        created_by=None,
        data_sources=[source],
        name="Revenue (benchmark)",
        slug=TEMPLATE_SLUG,
        report_type="financial",
        output_formats=list(TIME_GOALS),
        parameters_schema={
            "type": "object",
            "properties": {"rows": {"type": "integer", "minimum": 1}},
            "required": ["rows"],
        },
    )


def setup_django() -> None:
    import django

    sys.path.insert(0, str(PROJECT))
    django.setup()


def plan(rows: int, *, skip_xlsx_full: bool) -> list[tuple[str, int]]:
    sizes = sorted({min(SMALL_ROWS, rows), rows})
    cases = [("csv", size) for size in sizes]
    return cases + [("xlsx", size) for size in sizes if not (skip_xlsx_full and size > SMALL_ROWS)]


# --- measuring -------------------------------------------------------------------------------


@dataclass
class Result:
    format: str
    rows: int
    baseline: dict[str, Any]
    ours: dict[str, Any]


def compare(output_format: str, rows: int, folder: Path, repeat: int) -> Result:
    runs: dict[str, list[dict[str, Any]]] = {run: [] for run in RUNS}
    for attempt in range(repeat):
        for run in RUNS:
            output = folder / f"{run}-{rows}-{attempt}.{output_format}"
            runs[run].append(run_child(run, output_format, rows, output))
            output.unlink(missing_ok=True)
    best = {
        run: {
            "seconds": min(result["seconds"] for result in results),
            "peak_mb": max(result["peak_mb"] for result in results),
            "children_mb": max(result["children_mb"] for result in results),
        }
        for run, results in runs.items()
    }
    print(
        f"  {output_format:4} {rows:>9,} rows: baseline {best['baseline']['seconds']:6.2f} s, "
        f"ours {best['ours']['seconds']:6.2f} s"
    )
    return Result(output_format, rows, best["baseline"], best["ours"])


def run_child(run: str, output_format: str, rows: int, output: Path) -> dict[str, Any]:
    command = [sys.executable, __file__, "--run", run, "--format", output_format]
    process = subprocess.run(
        [*command, "--rows", str(rows), "--output", str(output)],
        stdout=subprocess.PIPE,
        check=False,
    )
    if process.returncode:
        raise SystemExit(f"The {run} {output_format} run of {rows:,} rows failed.")
    result = json.loads(process.stdout)
    if result["rows_out"] != rows or result["foreign_rows"]:
        raise SystemExit(
            f"The {run} {output_format} run wrote {result['rows_out']:,} rows, not {rows:,}, "
            f"{result['foreign_rows']:,} of them the other organisation's."
        )
    return result


def measure(run: str, output_format: str, rows: int, output: Path) -> dict[str, Any]:
    """In a fresh process: export once; the seconds, peak RSS and the rows in the file."""
    url = os.environ["DATABASE_URL"]
    if run == "ours":
        setup_django()
    export = EXPORTS[run, output_format]
    started = time.perf_counter()
    path = export(url, rows, output)
    seconds = time.perf_counter() - started
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    rows_out = csv_rows(path) if output_format == "csv" else xlsx_rows(path)
    return {
        "seconds": seconds,
        "peak_mb": own,
        "children_mb": children,
        "rows_out": rows_out,
        "foreign_rows": foreign_rows(path, output_format),
    }


def as_organization(url: str) -> Any:
    """A connection as the benchmark organisation's role, seeing what its report SQL sees."""
    role = json.loads(os.environ[ROLE_VARIABLE])
    return postgresql(url, **role, options="-c search_path=reporting")


def baseline_csv(url: str, rows: int, output: Path) -> Path:
    with as_organization(url) as connection, connection.cursor() as cursor:
        select = cursor.mogrify(QUERY, {"rows": rows}).decode()
        with output.open("wb") as out:
            cursor.copy_expert(f"COPY ({select}) TO STDOUT WITH CSV HEADER", out)
    return output


def baseline_xlsx(url: str, rows: int, output: Path) -> Path:
    from xlsxwriter import Workbook

    # remove_timezone: XlsxWriter refuses aware datetimes (timestamptz) without it.
    options = {"constant_memory": True, "remove_timezone": True}
    with as_organization(url) as connection, Workbook(output, options) as workbook:
        sheet = workbook.add_worksheet()
        with connection.cursor(name="bench_baseline") as cursor:
            cursor.itersize = FETCH_BATCH
            cursor.execute(QUERY, {"rows": rows})
            batch = cursor.fetchmany(FETCH_BATCH)  # a named cursor is described once it fetched
            sheet.write_row(0, 0, [column.name for column in cursor.description])
            row_index = 1
            while batch:
                for row in batch:
                    sheet.write_row(row_index, 0, row)
                    row_index += 1
                batch = cursor.fetchmany(FETCH_BATCH)
    return output


def ours(output_format: str, url: str, rows: int, output: Path) -> Path:
    """The real path: service, data source, renderer, storage (the file lands in storage)."""
    from reporting.models import ExecutionStatus, ReportTemplate
    from reporting.services.executions import execution_request, execution_run

    template = ReportTemplate.objects.get(organization__slug=ORGANIZATION_SLUG, slug=TEMPLATE_SLUG)
    execution = execution_request(
        template=template,
        parameters={"rows": rows},
        requested_by=None,
        trigger="cli",
        enqueue=False,
        output_formats=[output_format],
    )
    execution = execution_run(execution_id=execution.pk)
    if execution.status != ExecutionStatus.SUCCEEDED:
        raise SystemExit(f"The execution ended {execution.status}: {execution.error}")
    return Path(execution.outputs.get().file.path)


EXPORTS = {
    ("baseline", "csv"): baseline_csv,
    ("baseline", "xlsx"): baseline_xlsx,
    ("ours", "csv"): partial(ours, "csv"),
    ("ours", "xlsx"): partial(ours, "xlsx"),
}


def csv_rows(path: Path) -> int:
    """Data rows of a CSV with a header and no line breaks inside fields."""
    lines = 0
    with path.open("rb") as file:
        while chunk := file.read(1 << 20):
            lines += chunk.count(b"\n")
    return lines - 1


def foreign_rows(path: Path, output_format: str) -> int:
    """How often the other organisation's transaction ids occur in the file (in any member of
    an XLSX, shared or inline strings alike)."""
    if output_format == "csv":
        with path.open("rb") as file:
            return mark_count(iter(partial(file.read, 1 << 20), b""))
    with zipfile.ZipFile(path) as archive:
        found = 0
        for name in archive.namelist():
            with archive.open(name) as member:
                found += mark_count(iter(partial(member.read, 1 << 20), b""))
    return found


def mark_count(chunks: Iterator[bytes]) -> int:
    """FOREIGN_MARK's occurrences, one split across two chunks included: each chunk is searched
    with the previous one's last len - 1 bytes, too short to hold a mark counted already."""
    found, tail = 0, b""
    for chunk in chunks:
        window = tail + chunk
        found += window.count(FOREIGN_MARK)
        tail = window[-(len(FOREIGN_MARK) - 1) :]
    return found


def xlsx_rows(path: Path) -> int:
    """Data rows of the largest sheet, from its <dimension> element (the header row excluded)."""
    largest = 0
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            if name.startswith("xl/worksheets/sheet"):
                with archive.open(name) as sheet:
                    found = re.search(rb'<dimension ref="[A-Z]+\d+:[A-Z]+(\d+)"', sheet.read(4096))
                largest = max(largest, int(found.group(1)) if found else 1)
    return largest - 1


# --- the report ------------------------------------------------------------------------------


def verdict(met: bool) -> str:
    return "PASS" if met else "MISS"


def print_results(results: list[Result], full_rows: int) -> None:
    print(
        f"\n{'format':6} {'rows':>9} {'base s':>7} {'ours s':>7} {'ratio':>6} {'goal':>11}  "
        f"{'base MB':>7} {'ours MB':>7} {'goal':>9}  {'child MB':>8}"
    )
    for result in results:
        print(result_line(result, goals=result.rows == full_rows))
    checks = goal_checks(results, full_rows)
    print()
    for description, met in checks:
        print(f"{verdict(met)}  {description}")
    for output_format in sorted(
        set(TIME_GOALS) - {r.format for r in results if r.rows == full_rows}
    ):
        print(f"----  {output_format} {full_rows:,} rows: not measured (--skip-xlsx-full)")
    missed = [description for description, met in checks if not met]
    print(f"\nMissed {len(missed)} of {len(checks)} goals." if missed else "\nEvery goal met.")


def result_line(result: Result, *, goals: bool) -> str:
    """One row of the table; the goal columns only on the rows the goals are set for."""
    baseline, ours = result.baseline, result.ours
    ratio = ours["seconds"] / baseline["seconds"]
    time_goal, memory_goal = TIME_GOALS[result.format], MEMORY_GOALS_MB[result.format]
    time_verdict = f"<={time_goal} {verdict(ratio <= time_goal)}" if goals else ""
    memory_verdict = f"<{memory_goal} {verdict(ours['peak_mb'] < memory_goal)}" if goals else ""
    return (
        f"{result.format:6} {result.rows:>9,} {baseline['seconds']:7.2f} {ours['seconds']:7.2f} "
        f"{ratio:6.2f} {time_verdict:>11}  {baseline['peak_mb']:7.0f} {ours['peak_mb']:7.0f} "
        f"{memory_verdict:>9}  {ours['children_mb']:8.0f}"
    )


def goal_checks(results: list[Result], full_rows: int) -> list[tuple[str, bool]]:
    """(what was checked, whether it was met) for every goal this run could measure."""
    small = {result.format: result for result in results if result.rows == SMALL_ROWS}
    checks = []
    for result in (result for result in results if result.rows == full_rows):
        name, ours = f"{result.format} {full_rows:,} rows", result.ours
        ratio = ours["seconds"] / result.baseline["seconds"]
        time_goal, memory_goal = TIME_GOALS[result.format], MEMORY_GOALS_MB[result.format]
        checks.append((f"{name}: time {ratio:.2f}x baseline (<= {time_goal})", ratio <= time_goal))
        peak = ours["peak_mb"]
        checks.append((f"{name}: peak RSS {peak:.0f} MB (< {memory_goal})", peak < memory_goal))
        if result.format in small and full_rows > SMALL_ROWS:
            growth = round(peak - small[result.format].ours["peak_mb"])
            checks.append(
                (
                    f"{name}: {growth:+d} MB over {SMALL_ROWS:,} rows (<= {GROWTH_GOAL_MB})",
                    growth <= GROWTH_GOAL_MB,
                )
            )
    return checks


if __name__ == "__main__":
    main()
