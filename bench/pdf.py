"""PDF speed and memory: PdfRenderer against a plain WeasyPrint render and a bare ReportLab table.

    .venv/bin/python bench/pdf.py [--rows 1000 10000 100000] [--rounds 3]
    .venv/bin/python bench/pdf.py --threshold [--rows 50 100 200 400]

Builds a 7-column table of N rows in a spool file, then renders it in a fresh process per run,
so each run's memory is its own: `renderer`, the project's PdfRenderer (long tables drawn by
ReportLab, the rest by WeasyPrint); `weasyprint`, the report's layout rendered to HTML and given
to WeasyPrint in one piece (only up to --weasyprint-rows rows: 10,000 rows take about a minute
and 1.5 GB, 100,000 rows would take hours); `reportlab`, a bare platypus LongTable of the same
rows' text with a repeated header row, in memory as LongTable needs them. Runs are interleaved
round by round; each prints the minimum and median wall time and the largest peak RSS of the
whole process tree (sampled every 50 ms from outside) and of the rendering process alone
(getrusage). Importing WeasyPrint makes cffi run ldconfig, gcc and ld (ctypes.util.find_library,
for library names that do not exist on Linux); until such a child execs, /proc shows it with its
parent's RSS, which is the parent's own memory: the tree's sum counts it once. Goals
(issue 14): 10,000 rows at most 1.5x the bare ReportLab time; 100,000 rows under 60 s; whole-tree
peak RSS at most 250 MB at 10,000 and 100,000 rows.

--threshold compares the renderer with every table on the fast path (`fast`) against the same
renderer with every table in HTML (`html_only`, chunked WeasyPrint) at small row counts: where
the fast path starts (FAST_ROWS in reporting/renderers/pdf.py) is the smallest count where it
is faster.
"""

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

PROJECT = Path(__file__).resolve().parents[1]
COLUMNS = [
    ("invoice", "integer"),
    ("customer", "string"),
    ("day", "date"),
    ("amount", "number"),
    ("paid", "boolean"),
    ("region", "string"),
    ("booked_at", "datetime"),
]
REGIONS = ("North", "South", "East", "West", "Central")
GOAL_RATIO, GOAL_SECONDS_100K, GOAL_MB = 1.5, 60, 250
HTML_ONLY = 10**9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="+")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of every run")
    parser.add_argument("--weasyprint-rows", type=int, default=1000)
    parser.add_argument("--threshold", action="store_true")
    parser.add_argument(
        "--skip", nargs="+", default=[], help="runs to leave out, e.g. reportlab at 100,000 rows"
    )
    parser.add_argument("--run", help=argparse.SUPPRESS)
    parser.add_argument("--spool", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--output", type=Path, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.run:
        rows = arguments.rows[0]
        print(json.dumps(measure(arguments.run, arguments.spool, rows, arguments.output)))
        return
    if arguments.threshold:
        runs = lambda rows: ("fast", "html_only")  # noqa: E731
        counts = arguments.rows or [50, 100, 200, 400]
    else:
        counts = arguments.rows or [1000, 10_000, 100_000]

        def runs(rows: int) -> tuple[str, ...]:
            baseline = ("weasyprint",) if rows <= arguments.weasyprint_rows else ()
            return ("renderer", *baseline, "reportlab")

    for rows in counts:
        chosen = tuple(run for run in runs(rows) if run not in arguments.skip)
        compare(rows, chosen, arguments.rounds)


def compare(rows: int, runs: tuple[str, ...], rounds: int) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-pdf-") as folder:
        spool = Path(folder) / "table.csv"
        setup_django()
        from reporting.tables import spool_rows

        spool_rows(spool, row_batches(rows))
        results: dict[str, list[dict[str, Any]]] = {run: [] for run in runs}
        for _ in range(rounds):
            for run in runs:
                results[run].append(run_child(run, spool, rows, Path(folder) / f"{run}.pdf"))
    print_results(rows, rounds, results)


def row_batches(rows: int, batch: int = 5000) -> Any:
    booked = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
    for start in range(0, rows, batch):
        yield [
            [
                100_000 + number,
                f"Customer {number % 9973:04d} Ltd",
                date(2025, 3, number % 31 + 1),
                round(number * 1.37 % 10_000, 2),
                number % 3 != 0,
                REGIONS[number % len(REGIONS)],
                booked + timedelta(minutes=number),
            ]
            for number in range(start, min(rows, start + batch))
        ]


def run_child(run: str, spool: Path, rows: int, output: Path) -> dict[str, Any]:
    load = os.getloadavg()[0]
    command = [sys.executable, __file__, "--run", run, "--spool", str(spool), "--rows", str(rows)]
    process = subprocess.Popen([*command, "--output", str(output)], stdout=subprocess.PIPE)
    sampler = TreeSampler(process.pid)
    sampler.start()
    stdout, _ = process.communicate()
    sampler.stop()
    if process.returncode:
        raise SystemExit(f"The {run} run failed (exit {process.returncode}).")
    result = json.loads(stdout)
    result["tree_peak_mb"] = sampler.peak_kb / 1024
    result["pages"] = page_count(output)
    result["load"] = load
    return result


def measure(run: str, spool: Path, rows: int, output: Path) -> dict[str, Any]:
    """In a fresh process: render once, report seconds and CPU seconds."""
    setup_django()
    document = report(spool, rows)
    render = {
        "weasyprint": render_weasyprint,
        "renderer": render_with_renderer,
        "html_only": render_html_only,
        "fast": render_fast_only,
        "reportlab": render_reportlab,
    }[run]
    started, cpu = time.perf_counter(), cpu_seconds()
    with output.open("wb") as out:
        render(document, out)
    return {
        "seconds": time.perf_counter() - started,
        "cpu_seconds": cpu_seconds() - cpu,
        "own_peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def cpu_seconds() -> float:
    """This process's CPU time and that of its finished children (the PDF workers)."""
    usages = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    return sum(usage.ru_utime + usage.ru_stime for usage in usages)


def render_weasyprint(document: Any, out: Any) -> None:
    from weasyprint import HTML

    from reporting.renderers.fetcher import StaticOnlyURLFetcher
    from reporting.renderers.layout import STATIC_ROOT, render_layout

    html = HTML(
        string=render_layout(document),
        base_url=STATIC_ROOT.as_uri() + "/",
        url_fetcher=StaticOnlyURLFetcher(),
    )
    html.write_pdf(out)


def render_with_renderer(document: Any, out: Any) -> None:
    from reporting.renderers.pdf import PdfRenderer

    PdfRenderer().render(document, out)


def render_fast_only(document: Any, out: Any) -> None:
    from reporting.renderers.pdf import PdfRenderer

    PdfRenderer(fast_rows=1).render(document, out)


def render_html_only(document: Any, out: Any) -> None:
    from reporting.renderers.pdf import PdfRenderer

    PdfRenderer(fast_rows=HTML_ONLY).render(document, out)


def render_reportlab(document: Any, out: Any) -> None:
    """A bare platypus LongTable of the same cells, header repeated, zebra rows."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    from reportlab.platypus import LongTable, SimpleDocTemplate, TableStyle

    from reporting.renderers.layout import cell_formatter

    fonts = "/usr/share/fonts/truetype/dejavu"
    pdfmetrics.registerFont(TTFont("DejaVuSans", f"{fonts}/DejaVuSans.ttf"))
    pdfmetrics.registerFont(TTFont("DejaVuSans-Bold", f"{fonts}/DejaVuSans-Bold.ttf"))
    table = document.tables[0]
    formats = [cell_formatter(column, document.time_zone) for column in table.columns]
    data = [[column.name for column in table.columns]]
    data += [
        [text(value) for text, value in zip(formats, row, strict=True)] for row in table.rows()
    ]
    style = TableStyle(
        [
            ("FONT", (0, 0), (-1, -1), "DejaVuSans", 7.5),
            ("FONT", (0, 0), (-1, 0), "DejaVuSans-Bold", 7.5),
            ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#1f4e79")),
            ("TEXTCOLOR", (0, 0), (-1, 0), colors.white),
            ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, colors.HexColor("#f2f4f7")]),
            ("ALIGN", (0, 1), (0, -1), "RIGHT"),
            ("ALIGN", (3, 1), (3, -1), "RIGHT"),
            ("TOPPADDING", (0, 0), (-1, -1), 1.5),
            ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
        ]
    )
    widths = [w * mm for w in (16, 42, 22, 20, 12, 20, 34)]
    margins = {"leftMargin": 12 * mm, "rightMargin": 12 * mm, "topMargin": 16 * mm}
    doc = SimpleDocTemplate(out, pagesize=A4, bottomMargin=18 * mm, **margins)
    doc.build([LongTable(data, colWidths=widths, repeatRows=1, style=style)])


def report(spool: Path, rows: int) -> Any:
    from zoneinfo import ZoneInfo

    from reporting.tables import Branding, Column, ReportDocument, SpooledTable

    table = SpooledTable(
        name="invoices",
        title="Invoices",
        columns=[Column(name, column_type) for name, column_type in COLUMNS],
        path=spool,
        row_count=rows,
    )
    return ReportDocument(
        title="Invoice register",
        slug="invoice-register",
        description="Every invoice booked in the period.",
        branding=Branding(name="Benchmark Makerspace", footer_text="Benchmark run"),
        parameters={"month": "03", "year": 2025},
        generated_at=datetime.now(UTC),
        time_zone=ZoneInfo("Europe/Helsinki"),
        tables=[table],
        pdf_max_rows=max(rows, 10_000),
    )


def setup_django() -> None:
    import logging

    import django

    sys.path.insert(0, str(PROJECT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    logging.getLogger("weasyprint").setLevel(logging.WARNING)


def page_count(path: Path) -> int:
    from pypdf import PdfReader

    return len(PdfReader(path).pages)


class TreeSampler(threading.Thread):
    """Samples the summed RSS of a process and all its descendants (Linux /proc)."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak_kb = 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.05):
            self.peak_kb = max(self.peak_kb, tree_rss_kb(self.pid))

    def stop(self) -> None:
        self.done.set()
        self.join()


def tree_rss_kb(pid: int) -> int:
    """The summed RSS of a process and its descendants. A child whose memory figures are its
    parent's is a fork that has not exec'd yet (subprocess uses vfork: it is the parent's own
    memory), so it is counted once."""
    total, pending = 0, [(pid, ())]
    while pending:
        process, parent_sizes = pending.pop()
        try:
            status = Path(f"/proc/{process}/status").read_text()
            children = [
                int(child)
                for task in Path(f"/proc/{process}/task").iterdir()
                for child in (task / "children").read_text().split()
            ]
        except (FileNotFoundError, ProcessLookupError):
            continue
        sizes = tuple(re.findall(r"(?:VmSize|VmRSS):\s+(\d+)", status))
        if len(sizes) == 2 and sizes != parent_sizes:
            total += int(sizes[1])
        pending.extend((child, sizes) for child in children)
    return total


def print_results(rows: int, rounds: int, results: dict[str, list[dict[str, Any]]]) -> None:
    print(f"\n{rows:,} rows, 7 columns; each run in a fresh process, {rounds} interleaved rounds")
    print(
        f"{'':11} {'min s':>7} {'median s':>9} {'CPU s':>6} {'tree peak RSS':>14} "
        f"{'own peak':>9} {'pages':>6} {'load':>5}"
    )
    summary = {}
    for run, attempts in results.items():
        seconds = [attempt["seconds"] for attempt in attempts]
        summary[run] = {
            "min": min(seconds),
            "median": statistics.median(seconds),
            "peak": max(attempt["tree_peak_mb"] for attempt in attempts),
        }
        print(
            f"{run:11} {min(seconds):7.2f} {statistics.median(seconds):9.2f} "
            f"{min(attempt['cpu_seconds'] for attempt in attempts):6.2f} "
            f"{summary[run]['peak']:11.0f} MB "
            f"{max(attempt['own_peak_mb'] for attempt in attempts):6.0f} MB "
            f"{attempts[0]['pages']:6} "
            f"{max(attempt['load'] for attempt in attempts):5.2f}"
        )
    if "fast" in summary:
        ratio = summary["fast"]["min"] / summary["html_only"]["min"]
        print(f"fast path / all in HTML: {ratio:.2f}x (minimums)")
        return
    renderer = summary["renderer"]
    for baseline in ("reportlab", "weasyprint"):
        if baseline in summary:
            ratio = renderer["min"] / summary[baseline]["min"]
            print(f"renderer / {baseline}: {ratio:.2f}x (minimums)")
    if rows == 10_000 and "reportlab" in summary:
        ratio = renderer["min"] / summary["reportlab"]["min"]
        verdict = "PASS" if ratio <= GOAL_RATIO else "MISSED"
        print(f"goal 10,000 rows at most {GOAL_RATIO}x bare ReportLab: {ratio:.2f}x {verdict}")
    if rows == 100_000:
        verdict = "PASS" if renderer["min"] < GOAL_SECONDS_100K else "MISSED"
        print(f"goal 100,000 rows under {GOAL_SECONDS_100K} s: {renderer['min']:.1f} s {verdict}")
    if rows in (10_000, 100_000):
        verdict = "PASS" if renderer["peak"] <= GOAL_MB else "MISSED"
        print(f"goal peak RSS at most {GOAL_MB} MB: {renderer['peak']:.0f} MB {verdict}")


if __name__ == "__main__":
    main()
