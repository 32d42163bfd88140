"""LOG_FORMAT=json: every line a process writes is one JSON object, tracebacks included."""

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from config.tests.services import free_port

PROJECT = Path(__file__).resolve().parents[2]
FAILING = """
import logging
try:
    1 / 0
except ZeroDivisionError:
    logging.getLogger("reporting.render").exception("Render of %s failed", "Monthly billing")
"""


def run_with(tmp_path, code: str, **env) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=PROJECT,
        env={**os.environ, "VAR_DIR": str(tmp_path / "var"), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_json_logs_are_one_object_per_line_with_the_traceback(tmp_path):
    result = run_with(tmp_path, FAILING, LOG_FORMAT="json")
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stderr.splitlines()]
    (entry,) = [line for line in lines if line["logger"] == "reporting.render"]
    assert entry["level"] == "ERROR"
    assert entry["message"] == "Render of Monthly billing failed"
    assert entry["time"].endswith("+00:00")
    assert entry["exception"].startswith("Traceback (most recent call last):")
    assert entry["exception"].endswith("ZeroDivisionError: division by zero")


def test_text_logs_stay_the_default(tmp_path):
    result = run_with(tmp_path, FAILING, LOG_FORMAT="")
    assert " ERROR reporting.render: Render of Monthly billing failed" in result.stderr
    assert "ZeroDivisionError: division by zero" in result.stderr


def test_an_unknown_log_format_stops_start_up_naming_the_variable(tmp_path):
    result = run_with(tmp_path, "", LOG_FORMAT="xml")
    assert result.returncode == 1
    assert "LOG_FORMAT must be one of text, json (got 'xml')" in result.stderr


@contextlib.contextmanager
def web_server(tmp_path) -> Iterator[tuple[str, list[str]]]:
    """The Procfile's web server with two workers and JSON logs; its log lines once stopped."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.py", "config.wsgi:application",
         "--bind", f"127.0.0.1:{port}", "--workers", "2", "--access-logfile", "-"],
        cwd=PROJECT,
        env={**os.environ, "VAR_DIR": str(tmp_path / "var"), "LOG_FORMAT": "json",
             "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics")},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip
    url, logs = f"http://127.0.0.1:{port}", []
    try:
        _wait_for(f"{url}/healthz")
        yield url, logs
    finally:
        process.terminate()
        logs.extend(process.communicate(timeout=30)[0].splitlines())


def _wait_for(url: str) -> None:
    for _ in range(150):
        try:
            urllib.request.urlopen(url, timeout=5)
            return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not answer")


def test_the_web_server_sums_its_workers_metrics_and_logs_json(tmp_path):
    with web_server(tmp_path) as (url, logs):

        def healthz_requests() -> float:
            text = urllib.request.urlopen(f"{url}/metrics", timeout=10).read().decode()
            return sum(
                sample.value
                for family in text_string_to_metric_families(text)
                for sample in family.samples
                if sample.name == "reporting_hub_http_request_duration_seconds_count"
                and sample.labels["route"] == "healthz"
            )

        start = healthz_requests()  # the start-up wait's requests, in whichever worker took them
        for _ in range(20):
            urllib.request.urlopen(f"{url}/healthz", timeout=10)
        # Whichever worker answers a scrape counts both workers' requests.
        assert [healthz_requests() - start for _ in range(6)] == [20] * 6

    entries = [json.loads(line) for line in logs]
    assert {"gunicorn.error", "gunicorn.access"} <= {entry["logger"] for entry in entries}
    assert any('"GET /healthz HTTP/1.1" 200' in entry["message"] for entry in entries)


def test_a_celery_worker_logs_json_lines_too(tmp_path):
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--loglevel", "INFO",
         "--concurrency", "1"],
        cwd=PROJECT,
        env={**os.environ, "VAR_DIR": str(tmp_path / "var"), "LOG_FORMAT": "json",
             "CELERY_BROKER_URL": "filesystem://"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip
    entries = []
    give_up = threading.Timer(60, worker.terminate)  # a worker that never gets ready
    give_up.start()
    try:
        for line in worker.stdout:
            if line.startswith("{"):
                entries.append(json.loads(line))
            if entries and entries[-1]["message"].endswith(" ready."):
                break
    finally:
        give_up.cancel()
        worker.terminate()
        worker.communicate(timeout=30)
    assert entries[-1]["logger"] == "celery.apps.worker"
    assert entries[-1]["level"] == "INFO"
