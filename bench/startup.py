"""Start-up cost: what `manage.py check` imports, and the CPU and memory of `django.setup()`.

    .venv/bin/python bench/startup.py [--rounds 7] [--top 15] [--baseline-dir /work/main]

First `python -X importtime manage.py check`, summarised: the heaviest packages outside the
project with the project module that first imported each, and the heaviest project modules.
Then, each in a fresh process, several rounds interleaved: `django.setup()`, `django.setup()`
plus the `run_report` command's module (everything a CLI export loads before its first query)
and the whole `manage.py check`. CPU-s (user + system) and peak RSS come from the child's own
rusage (wait4). Beside them: Django set up with two contrib apps and no settings module (the
floor any project pays) and, with --baseline-dir, the same measures in another checkout (say
main, before a change). Goals (issue 14): setup + run_report under 0.8 CPU-s and 90 MB, judged
on the minimum CPU of the rounds and the largest peak RSS.
"""

import argparse
import os
import statistics
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
PROJECT_PACKAGES = {"accounts", "analytics", "config", "delivery", "events", "reporting"}
GOAL_CPU_S, GOAL_MB = 0.8, 90
FLOOR_LABEL = "floor: django.setup(), 2 contrib apps"

SETUP = "import django; django.setup()"
RUN_REPORT = SETUP + "; import reporting.management.commands.run_report"
FLOOR = (
    "import django; from django.conf import settings; settings.configure("
    "INSTALLED_APPS=['django.contrib.contenttypes', 'django.contrib.auth'], "
    "DATABASES={'default': {'ENGINE': 'django.db.backends.sqlite3', 'NAME': ':memory:'}}); "
    "django.setup()"
)


@dataclass(frozen=True)
class Case:
    label: str
    folder: Path
    arguments: tuple[str, ...]


@dataclass
class Import:
    name: str
    cumulative_us: int
    depth: int
    parent: "Import | None" = None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7, help="runs of each, interleaved")
    parser.add_argument("--top", type=int, default=15, help="rows in each import table")
    parser.add_argument("--baseline-dir", type=Path, help="another checkout to measure beside")
    arguments = parser.parse_args()
    if arguments.rounds < 1:
        parser.error("--rounds must be at least 1.")
    imports_summary(PROJECT, arguments.top)
    cases = cases_for(PROJECT, "")
    if arguments.baseline_dir:
        cases += cases_for(arguments.baseline_dir.resolve(), "baseline ")
    cases.append(Case(FLOOR_LABEL, PROJECT, ("-c", FLOOR)))
    results = measure_rounds(cases, arguments.rounds)
    print_results(results, arguments.rounds, bool(arguments.baseline_dir))


def cases_for(folder: Path, prefix: str) -> list[Case]:
    return [
        Case(f"{prefix}django.setup()", folder, ("-c", SETUP)),
        Case(f"{prefix}setup + run_report", folder, ("-c", RUN_REPORT)),
        Case(f"{prefix}manage.py check", folder, ("manage.py", "check")),
    ]


def child_environment(folder: Path) -> dict[str, str]:
    environment = dict(os.environ, DJANGO_SETTINGS_MODULE="config.settings")
    environment["PYTHONPATH"] = str(folder)
    return environment


def python_for(folder: Path) -> str:
    python = folder / ".venv" / "bin" / "python"
    return str(python) if python.exists() else sys.executable


def imports_summary(folder: Path, top: int) -> None:
    completed = subprocess.run(
        [python_for(folder), "-X", "importtime", "manage.py", "check"],
        cwd=folder,
        env=child_environment(folder),
        capture_output=True,
        text=True,
        check=False,
    )
    imports = imports_parse(completed.stderr)
    total_ms = sum(item.cumulative_us for item in imports if item.depth == 0) / 1000
    print(f"python -X importtime manage.py check: {len(imports):,} modules, {total_ms:,.0f} ms")
    print("(importtime's own overhead inflates these; compare them with each other)\n")
    print(f"Heaviest packages outside the project (first import, cumulative), top {top}:")
    for item in _package_roots(imports)[:top]:
        print(f"  {item.cumulative_us / 1000:7.1f} ms  {item.name:<32} via {_via(item)}")
    print(f"\nHeaviest project modules (cumulative), top {top}:")
    ours = [item for item in imports if _root(item.name) in PROJECT_PACKAGES]
    for item in sorted(ours, key=lambda item: -item.cumulative_us)[:top]:
        print(f"  {item.cumulative_us / 1000:7.1f} ms  {item.name}")
    print()


def imports_parse(stderr: str) -> list[Import]:
    """importtime's lines in order; a module's imports are listed before it, one level deeper."""
    imports: list[Import] = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "[us]" in line:
            continue
        _, cumulative, name = line.removeprefix("import time:").split("|", 2)
        depth = (len(name) - len(name.lstrip()) - 1) // 2
        imports.append(Import(name.strip(), int(cumulative), depth))
    waiting: list[Import] = []  # imported, parent not yet listed
    for item in imports:
        while waiting and waiting[-1].depth > item.depth:
            waiting.pop().parent = item
        waiting.append(item)
    return imports


def _root(name: str) -> str:
    return name.partition(".")[0]


def _package_roots(imports: list[Import]) -> list[Import]:
    """Per outside package, its largest entry point: an import of it from outside the package."""
    roots: dict[str, Import] = {}
    for item in imports:
        root = _root(item.name)
        if root in PROJECT_PACKAGES or (item.parent and _root(item.parent.name) == root):
            continue
        if root not in roots or item.cumulative_us > roots[root].cumulative_us:
            roots[root] = item
    return sorted(roots.values(), key=lambda item: -item.cumulative_us)


def _via(item: Import) -> str:
    parent = item.parent
    while parent and _root(parent.name) not in PROJECT_PACKAGES:
        parent = parent.parent
    return parent.name if parent else "(no project module)"


def measure_rounds(cases: list[Case], rounds: int) -> dict[Case, list[tuple[float, float]]]:
    results: dict[Case, list[tuple[float, float]]] = {case: [] for case in cases}
    print("Rounds:", end="", flush=True)
    for round_number in range(rounds):
        print(f" {round_number + 1}", end="", flush=True)
        for case in cases:
            results[case].append(measure(case))
    print("\n")
    return results


def measure(case: Case) -> tuple[float, float]:
    """(CPU-s, peak RSS in MB) of one fresh process, from its own rusage."""
    process = subprocess.Popen(
        [python_for(case.folder), *case.arguments],
        cwd=case.folder,
        env=child_environment(case.folder),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    stderr = process.stderr.read() if process.stderr else b""
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        sys.exit(f"{case.label} failed in {case.folder}:\n{stderr.decode(errors='replace')}")
    return usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def print_results(
    results: dict[Case, list[tuple[float, float]]], rounds: int, with_baseline: bool
) -> None:
    print(f"Each in a fresh process, {rounds} rounds interleaved:\n")
    print(f"  {'':<40} {'CPU-s min':>9} {'median':>7} {'RSS MB min':>10} {'max':>6}")
    for case, runs in results.items():
        cpu, rss = [run[0] for run in runs], [run[1] for run in runs]
        print(
            f"  {case.label:<40} {min(cpu):9.3f} {statistics.median(cpu):7.3f}"
            f" {min(rss):10.1f} {max(rss):6.1f}"
        )
    by_label = {case.label: runs for case, runs in results.items()}
    ours = by_label["setup + run_report"]
    cpu, rss = min(run[0] for run in ours), max(run[1] for run in ours)
    reference = "baseline setup + run_report" if with_baseline else FLOOR_LABEL
    base_cpu = min(run[0] for run in by_label[reference])
    base_rss = max(run[1] for run in by_label[reference])
    print(f"\nsetup + run_report against {reference}:")
    print(f"  CPU {cpu:.3f} s vs {base_cpu:.3f} s: {cpu / base_cpu:.2f}x")
    print(f"  peak RSS {rss:.1f} MB vs {base_rss:.1f} MB: {rss / base_rss:.2f}x")
    print(f"  under {GOAL_CPU_S} CPU-s (minimum): {'PASS' if cpu < GOAL_CPU_S else 'MISSED'}")
    print(f"  under {GOAL_MB} MB peak RSS (largest): {'PASS' if rss < GOAL_MB else 'MISSED'}")


if __name__ == "__main__":
    main()
