"""The production install starts on each production broker and runs a report.

scripts/check-production-install.sh runs this with the python of a fresh venv that holds
requirements.txt alone, so every import here and in the processes it starts comes from that list:

    <venv>/bin/python scripts/production_install_check.py <scratch folder>

On a PostgreSQL database of its own (`install_check`) and Redis db 12 as the cache, it runs
`migrate` and `setup_demo` as `make run` does. Then, on a Redis broker and on a RabbitMQ broker in
turn, it
- starts each line of the Procfile (web: gunicorn, worker, beat) as written, in its own process
  group, with what production sets (a random SECRET_KEY, DEBUG off, ALLOWED_HOSTS,
  FIELD_ENCRYPTION_KEYS), and waits for /healthz to answer 200 and the worker to be ready,
  consuming every queue;
- gets a JWT from the auth endpoint, runs the demo "Members" report through the API as CSV, XLSX
  and PDF, and reads each download back (its sha256, the header and a member's row);
- checks that beat sent the every-minute check (made due before beat starts), that the worker
  ran it, and that no log holds an error or a traceback;
- stops the three and kills whatever is left in their process groups.
Last, it drops the database and the per-organisation roles migrate made, flushes Redis db 12 and
deletes its RabbitMQ queues. One line per step; a failure prints the reason and the logs' tails
and exits 1.
"""

import base64
import contextlib
import hashlib
import io
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import openpyxl
import psycopg2
import redis
from kombu import Connection
from psycopg2 import sql
from pypdf import PdfReader

BASE_DIR = Path(__file__).resolve().parent.parent
# When the shell script started, so the times printed count the venv's install too.
STARTED = float(os.environ.get("INSTALL_CHECK_STARTED") or time.time())
DATABASE = "install_check"
POSTGRES = "host=127.0.0.1 port=5432 user=postgres connect_timeout=5"
REDIS_URL = "redis://127.0.0.1:6379/12"
RABBITMQ_URL = "amqp://guest:guest@127.0.0.1:5672//"
# Queues of its own on RabbitMQ's default vhost, so that nothing else takes its messages: the
# project's (CELERY_TASK_QUEUES) with this prefix.
QUEUE_PREFIX = "reporting-hub-install-check."
QUEUES = [f"{QUEUE_PREFIX}{kind}" for kind in ("reports", "deliveries", "analytics", "maintenance")]
BROKERS = {  # name: (CELERY_BROKER_URL, CELERY_RESULT_BACKEND)
    "redis": (REDIS_URL, REDIS_URL),
    "rabbitmq": (RABBITMQ_URL, "rpc://"),
}
API = "/api/v1/business-intelligence"
MEMBERS_HEADER = ("username", "email", "role", "joined_at")
MEMBER = "demo-admin-demo"  # one of setup_demo's sample members
EVERY_MINUTE_TASK = "business_intelligence.check_scheduled_reports"
WORKER_READY = re.compile(r"celery@\S+ ready\.")
WORKER_QUEUE = re.compile(r"^\s*\.> (\S+)\s+exchange=", re.MULTILINE)  # its start-up banner
LOG_PROBLEM = re.compile(r"Traceback|\bERROR\b|\bCRITICAL\b")


class CheckFailed(Exception):
    def __init__(self, message: str, *, logs: list[Path] | None = None):
        super().__init__(message)
        self.logs = logs or []


def step(message: str) -> None:
    print(f"[{time.time() - STARTED:3.0f}s] {message}", flush=True)


def tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.splitlines()[-lines:])


# --- The Procfile's processes ---------------------------------------------------------------
class Procfile:
    """The Procfile's processes on one broker, each in its own process group.

    Each group's id is appended to `pgid_file`, so the shell script can end them had this
    process been killed before it could.
    """

    def __init__(self, *, env: dict[str, str], log_dir: Path, pgid_file: Path):
        self.env, self.log_dir, self.pgid_file = env, log_dir, pgid_file
        self.processes: dict[str, subprocess.Popen] = {}
        log_dir.mkdir(parents=True, exist_ok=True)

    def start(self) -> None:
        for line in (BASE_DIR / "Procfile").read_text().splitlines():
            if line.strip() and not line.startswith("#"):
                name, command = (part.strip() for part in line.split(":", 1))
                self.processes[name] = self._start(name, command)

    def _start(self, name: str, command: str) -> subprocess.Popen:
        # As honcho runs a Procfile line: through the shell, which expands ${PORT:-8000}.
        with open(self.log(name), "wb") as log:
            process = subprocess.Popen(
                ["/bin/sh", "-c", f"exec {command}"],
                cwd=BASE_DIR,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        with open(self.pgid_file, "a") as pgids:
            pgids.write(f"{process.pid}\n")
        return process

    def log(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def logs(self) -> list[Path]:
        return [self.log(name) for name in self.processes]

    def text(self, name: str) -> str:
        return self.log(name).read_text(errors="replace")

    def log_search(self, name: str, pattern: re.Pattern) -> re.Match | None:
        return pattern.search(self.text(name))

    def alive_check(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                raise CheckFailed(
                    f"{name} exited with status {process.returncode}", logs=[self.log(name)]
                )

    def stop(self) -> None:
        """SIGTERM each group; SIGKILL what is left after 15 s (pool children, PDF helpers)."""
        for process in self.processes.values():
            _signal_group(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for process in self.processes.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            _signal_group(process.pid, signal.SIGKILL)
            process.wait()


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signum)


def wait_for(
    what: str,
    ready: Callable[[], Any],
    *,
    procfile: Procfile,
    timeout: float,
    last_seen: Callable[[], str] = str,
) -> Any:
    """ready()'s first true answer; fails at once when one of the processes has exited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        procfile.alive_check()
        if answer := ready():
            return answer
        time.sleep(0.25)
    raise CheckFailed(f"{what}: not within {timeout:.0f} s{last_seen()}", logs=procfile.logs())


# --- The shared services: a database, a Redis db and a queue of this check's own -------------
@contextlib.contextmanager
def service(name: str) -> Iterator[None]:
    try:
        yield
    except Exception as error:  # whatever the client library raises: name the service
        raise CheckFailed(f"{name} on 127.0.0.1: {type(error).__name__}: {error}") from error


@contextlib.contextmanager
def postgres(database: str = "postgres") -> Iterator[Any]:
    """A cursor in autocommit (DROP DATABASE runs outside a transaction), PostgreSQL named."""
    with service("PostgreSQL"):
        connection = psycopg2.connect(f"{POSTGRES} dbname={database}")
        connection.autocommit = True
        try:
            with connection.cursor() as cursor:
                yield cursor
        finally:
            connection.close()


def leftovers_remove() -> None:
    """This check's database and roles, Redis db 12 and its queue; an earlier run's too."""
    # accounts/database_roles.py names an organisation's role after the database's md5.
    prefix = f"rh_{hashlib.md5(DATABASE.encode()).hexdigest()[:8]}_"
    with postgres() as cursor:
        cursor.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(DATABASE))
        )
        cursor.execute(
            "SELECT rolname FROM pg_roles WHERE starts_with(rolname, %s)",
            [prefix],
        )
        for (role,) in cursor.fetchall():
            cursor.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))
    with service("Redis"):
        redis.Redis.from_url(REDIS_URL, socket_timeout=5).flushdb()
    with service("RabbitMQ"), Connection(RABBITMQ_URL, connect_timeout=5) as rabbitmq:
        rabbitmq.ensure_connection(max_retries=1)
        for queue in QUEUES:
            rabbitmq.default_channel.queue_delete(queue)
            rabbitmq.default_channel.exchange_delete(queue)


def database_create() -> None:
    with postgres() as cursor:
        cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))


def every_minute_check_make_due() -> None:
    """Beat sends an interval task when its last run is an interval old: make that now."""
    with postgres(DATABASE) as cursor:
        cursor.execute(
            "UPDATE django_celery_beat_periodictask SET last_run_at = now() - interval '5 minutes'"
            " WHERE task = %s AND enabled",
            [EVERY_MINUTE_TASK],
        )
        due = cursor.rowcount
    if due != 1:
        raise CheckFailed(f"{EVERY_MINUTE_TASK} is in beat's schedule {due} times, not once")


# --- What production sets -------------------------------------------------------------------
INSTALL_CHECK_SETTINGS = f"""\
from kombu import Exchange, Queue

from config.settings import *  # noqa: F403


def _own(name):
    return {QUEUE_PREFIX!r} + name


CELERY_TASK_QUEUES = [
    Queue(_own(q.name), Exchange(_own(q.name)), routing_key=_own(q.name))
    for q in CELERY_TASK_QUEUES
]
CELERY_TASK_DEFAULT_QUEUE = _own(CELERY_TASK_DEFAULT_QUEUE)
CELERY_TASK_ROUTES = {{
    task: {{"queue": _own(route["queue"])}} for task, route in CELERY_TASK_ROUTES.items()
}}
"""


def environment(scratch: Path) -> dict[str, str]:
    """Only what production sets, not the caller's environment (which may name other parts)."""
    settings_dir = scratch / "settings"
    settings_dir.mkdir(exist_ok=True)
    # The project's settings with the queues renamed (see QUEUES), and nothing else.
    (settings_dir / "install_check_settings.py").write_text(INSTALL_CHECK_SETTINGS)
    kept = {name: os.environ[name] for name in ("HOME", "LANG", "TMPDIR") if name in os.environ}
    return {
        **kept,
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",  # the venv's gunicorn
        "PYTHONPATH": str(settings_dir),
        "DJANGO_SETTINGS_MODULE": "install_check_settings",
        "VAR_DIR": str(scratch / "var"),
        "SECRET_KEY": secrets.token_urlsafe(50),
        "FIELD_ENCRYPTION_KEYS": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        "DEBUG": "false",
        "ALLOWED_HOSTS": "127.0.0.1",
        "HOST": "127.0.0.1",
        "PORT": str(free_port()),
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{DATABASE}",
        "REDIS_URL": REDIS_URL,
        # Not gunicorn's default ~/.gunicorn/gunicorn.ctl, which another gunicorn here may hold.
        "GUNICORN_CMD_ARGS": f"--control-socket {scratch / 'gunicorn.ctl'}",
    }


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def manage(env: dict[str, str], *arguments: str) -> None:
    command = [sys.executable, "manage.py", *arguments]
    result = subprocess.run(command, cwd=BASE_DIR, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise CheckFailed(
            f"manage.py {' '.join(arguments)} exited with status {result.returncode}:\n"
            + tail(result.stdout + result.stderr)
        )


# --- The API --------------------------------------------------------------------------------
def http(url: str, *, token: str = "", body: dict | None = None) -> tuple[int, bytes]:
    """(status, body); status 0 when nothing answers yet."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if body is not None:
        headers["Content-Type"] = "application/json"
    data = None if body is None else json.dumps(body).encode()
    try:
        request = urllib.request.Request(url, data=data, headers=headers)
        with urllib.request.urlopen(request, timeout=15) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
    except OSError:
        return 0, b""


def api_json(url: str, *, expect: int, token: str = "", body: dict | None = None) -> Any:
    status, content = http(url, token=token, body=body)
    if status != expect:
        raise CheckFailed(f"{url} answered {status}, not {expect}: {content[:500]!r}")
    return json.loads(content)


def healthz_wait(base: str, procfile: Procfile) -> None:
    """Until /healthz answers 200. A 503 fails only at the end: a process dying says more."""
    last = [0, b""]

    def healthy() -> bool:
        last[:] = http(f"{base}/healthz")
        return last[0] == 200

    wait_for(
        "/healthz answering 200",
        healthy,
        procfile=procfile,
        timeout=40,
        last_seen=lambda: f"; it last answered {last[0]} {last[1].decode(errors='replace')}",
    )


def report_run(base: str, procfile: Procfile) -> tuple[str, dict[str, Any]]:
    """(the JWT, the execution once it ended) for the Members report as CSV, XLSX and PDF."""
    login = {"username": "demo", "password": "demo"}
    token = api_json(f"{base}/api/v1/auth/token/", expect=200, body=login)["access"]
    templates = api_json(f"{base}{API}/report-templates/?search=Members", expect=200, token=token)
    template = next((t for t in templates["results"] if t["slug"] == "members"), None)
    if template is None:
        raise CheckFailed("setup_demo's Members template is not in the API's list")
    request = {"template_id": template["id"], "output_formats": ["csv", "xlsx", "pdf"]}
    execution = api_json(f"{base}{API}/report-executions/", expect=202, token=token, body=request)
    url = f"{base}{API}/report-executions/{execution['id']}/"

    def ended() -> dict | None:
        execution = api_json(url, expect=200, token=token)
        return execution if execution["status"] in ("succeeded", "failed", "cancelled") else None

    execution = wait_for("the report execution ending", ended, procfile=procfile, timeout=45)
    if execution["status"] != "succeeded":
        raise CheckFailed(
            f"report execution {execution['id']} ended {execution['status']}: {execution['error']}",
            logs=procfile.logs(),
        )
    return token, execution


def downloads_check(token: str, execution: dict[str, Any]) -> str:
    found = []
    for output in sorted(execution["outputs"], key=lambda output: output["format"]):
        status, content = http(output["download_url"], token=token)
        if status != 200:
            raise CheckFailed(f"{output['download_url']} answered {status}: {content[:300]!r}")
        if hashlib.sha256(content).hexdigest() != output["sha256"]:
            raise CheckFailed(f"the {output['format']} download is not the stored file (sha256)")
        found.append(f"{output['format']} {len(content):,} B {READERS[output['format']](content)}")
    if len(found) != len(READERS):
        raise CheckFailed(f"expected csv, pdf and xlsx outputs, got {found}")
    return "; ".join(found)


def csv_read(content: bytes) -> str:
    lines = content.decode("utf-8-sig").splitlines()
    if tuple(lines[0].split(",")) != MEMBERS_HEADER or not any(MEMBER in x for x in lines):
        raise CheckFailed(f"the CSV is not the members list: {lines[:3]}")
    return f"(header {lines[0]}, {len(lines) - 1} rows)"


def xlsx_read(content: bytes) -> str:
    """A Summary sheet comes first, then one sheet per table with its header in row 1."""
    workbook = openpyxl.load_workbook(io.BytesIO(content), read_only=True)
    for sheet in workbook.worksheets[1:]:
        rows = list(sheet.iter_rows(values_only=True))
        if rows and rows[0] == MEMBERS_HEADER and any(MEMBER in row for row in rows):
            return f"(sheet {sheet.title!r}: header, {len(rows) - 1} rows)"
    raise CheckFailed(f"no sheet of the XLSX is the members list: {workbook.sheetnames}")


def pdf_read(content: bytes) -> str:
    reader = PdfReader(io.BytesIO(content))
    text = "\n".join(page.extract_text() or "" for page in reader.pages)
    if MEMBER not in text:
        raise CheckFailed(f"the PDF's text has no {MEMBER}: {text[:300]!r}")
    return f"({len(reader.pages)} page(s), text has {MEMBER})"


READERS: dict[str, Callable[[bytes], str]] = {"csv": csv_read, "pdf": pdf_read, "xlsx": xlsx_read}


def beat_check(procfile: Procfile) -> None:
    sent = re.compile(rf"Sending due task .*\({re.escape(EVERY_MINUTE_TASK)}\)")
    ran = re.compile(rf"{re.escape(EVERY_MINUTE_TASK)}\[[^\]]+\] succeeded")
    wait_for(
        "beat sending the every-minute check",
        lambda: procfile.log_search("beat", sent),
        procfile=procfile,
        timeout=20,
    )
    wait_for(
        "the worker running the every-minute check",
        lambda: procfile.log_search("worker", ran),
        procfile=procfile,
        timeout=20,
    )


def logs_clean(procfile: Procfile) -> None:
    for name in procfile.processes:
        problem = next(filter(LOG_PROBLEM.search, procfile.text(name).splitlines()), None)
        if problem:
            raise CheckFailed(f"{name}'s log has an error: {problem}", logs=[procfile.log(name)])


# --- One broker, then the whole check -------------------------------------------------------
def broker_check(name: str, env: dict[str, str], scratch: Path) -> None:
    broker_url, result_backend = BROKERS[name]
    base = f"http://127.0.0.1:{env['PORT']}"
    every_minute_check_make_due()
    procfile = Procfile(
        env={**env, "CELERY_BROKER_URL": broker_url, "CELERY_RESULT_BACKEND": result_backend},
        log_dir=scratch / "logs" / name,
        pgid_file=scratch / "pgids",
    )
    try:
        procfile.start()
        healthz_wait(base, procfile)
        wait_for(
            "the worker being ready",
            lambda: procfile.log_search("worker", WORKER_READY),
            procfile=procfile,
            timeout=30,
        )
        consumed = sorted(WORKER_QUEUE.findall(procfile.text("worker")))
        if consumed != sorted(QUEUES):
            raise CheckFailed(f"the worker consumes {consumed}, not every queue: {QUEUES}")
        step(f"{name}: web, worker and beat started on {broker_url}; /healthz 200")
        step(f"{name}: the worker consumes {', '.join(consumed)}")
        token, execution = report_run(base, procfile)
        seconds = execution["duration_seconds"]
        step(f"{name}: report execution {execution['id']} (Members) succeeded in {seconds:.1f} s")
        step(f"{name}: downloads {downloads_check(token, execution)}")
        beat_check(procfile)
        logs_clean(procfile)
        step(f"{name}: beat sent the every-minute check, the worker ran it; no error in any log")
    except CheckFailed as failure:
        failure.logs = failure.logs or procfile.logs()
        raise
    finally:
        procfile.stop()
    step(f"{name}: web, worker and beat stopped")


def check(scratch: Path) -> None:
    env = environment(scratch)
    try:
        leftovers_remove()
        database_create()
        manage(env, "migrate", "--noinput", "-v", "0")
        manage(env, "setup_demo")
        step(f"database {DATABASE} on PostgreSQL: migrate, setup_demo")
        for name in BROKERS:
            broker_check(name, env, scratch)
    except BaseException:  # a failure, or a TERM: clean up, and tell of what happened first
        with contextlib.suppress(CheckFailed):
            leftovers_remove()
        raise
    leftovers_remove()
    step(f"removed database {DATABASE} and its roles, Redis db 12's keys, queues {QUEUE_PREFIX}*")


def main() -> int:
    # A TERM (the shell script's trap) unwinds through the finally blocks that stop everything.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    try:
        check(Path(sys.argv[1]))
    except CheckFailed as failure:
        print(f"FAILED: {failure}", flush=True)
        for log in failure.logs:
            print(f"--- {log.parent.name} {log.stem}: last 40 lines of its log")
            print(tail(log.read_text(errors="replace")), flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
