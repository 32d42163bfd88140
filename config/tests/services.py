"""Throwaway Redis servers and PostgreSQL clusters for tests that break the service's parts.

A fault drill stops and starts its own processes on spare ports, never the shared services a
developer or CI runs on 5432/6379/5672. Each class starts on `start()`, stops on `stop()` and can
be started again on the same port (a "restart" after an outage); as a context manager it starts
on entry and on exit stops and removes everything it made.

    with OwnRedis() as broker:
        ...  # broker.url is redis://127.0.0.1:<port>/0
        broker.stop()  # the outage; with no persistence, its keys are gone
        broker.start()  # back, empty

    with OwnPostgres() as cluster:
        url = cluster.create_database("hub")  # postgres://postgres@127.0.0.1:<port>/hub
        ...
        cluster.stop()  # the outage (mode "fast"; "immediate" is a crash)
        cluster.start()  # back, with its data

`OwnPostgres` runs `initdb` and `pg_ctl` as the `postgres` user when the tests run as root (the
cluster's folder is handed to that user), otherwise as the current user. Both classes say why
they cannot run through `unavailable()`, so a test can skip with that reason.

`OwnReplica` is a streaming replica of an `OwnPostgres` (`pg_basebackup -R`), to stop, start
or pause.

`HubServer` is gunicorn serving this checkout on such a cluster's database, as in production.
"""

import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Self

START_TIMEOUT_SECONDS = 20
BASE_DIR = Path(__file__).resolve().parent.parent.parent


def free_port() -> int:
    """A TCP port nothing listens on now (the OS picks it; another process could take it later,
    which on a test machine is rare enough)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def port_answers(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _wait_for(condition, *, what: str, timeout: float = START_TIMEOUT_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} within {timeout} s")
        time.sleep(0.05)


class OwnRedis:
    """A `redis-server` subprocess on a spare port, without persistence."""

    def __init__(self, port: int | None = None, *, host: str = "127.0.0.1"):
        self.host = host
        self.port = port or free_port()
        self.process: subprocess.Popen | None = None

    @staticmethod
    def unavailable() -> str:
        return "" if shutil.which("redis-server") else "redis-server is not installed"

    def url_for(self, database: int = 0) -> str:
        return f"redis://{self.host}:{self.port}/{database}"

    @property
    def url(self) -> str:
        return self.url_for(0)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> Self:
        if self.running:
            return self
        command = ["redis-server", "--port", str(self.port), "--bind", self.host]
        command += ["--save", "", "--appendonly", "no", "--daemonize", "no"]
        if self.host != "127.0.0.1":  # clients from other addresses (a drill's own network)
            command += ["--protected-mode", "no"]
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        _wait_for(
            lambda: port_answers(self.port, self.host), what=f"redis-server on port {self.port}"
        )
        return self

    def stop(self) -> None:
        if self.running:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()


def _postgres_bin() -> Path | None:
    pg_ctl = shutil.which("pg_ctl")
    if pg_ctl:
        return Path(os.path.realpath(pg_ctl)).parent
    # Debian keeps them out of PATH, one folder per major version.
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=_major_version)
    return Path(versions[-1]).parent if versions else None


def _major_version(pg_ctl: str) -> int:
    version = Path(pg_ctl).parent.parent.name
    return int(version) if version.isdigit() else 0


class OwnPostgres:
    """A PostgreSQL cluster of its own (`initdb` in a temporary folder, made in `parent` when
    given), listening on `host` (127.0.0.1) at a spare port with trust authentication for
    `postgres`, also from the addresses of `clients` (a network such as "10.231.0.0/24") when
    given; its socket sits in its folder."""

    user = "postgres"

    def __init__(
        self,
        port: int | None = None,
        *,
        host: str = "127.0.0.1",
        clients: str = "",
        parent: Path | None = None,
        server_settings: dict[str, str] | None = None,
    ):
        self.host = host
        self.port = port or free_port()
        self.clients = clients
        self.parent = parent
        self.bin = _postgres_bin()
        self.folder: Path | None = None
        self.server_settings = server_settings or {}

    @classmethod
    def unavailable(cls) -> str:
        if _postgres_bin() is None:
            return "PostgreSQL's server programs (initdb, pg_ctl) are not installed"
        if os.geteuid() == 0:
            try:
                pwd.getpwnam(cls.user)
            except KeyError:
                return "running as root and there is no `postgres` user to run PostgreSQL as"
        return ""

    def url_for(self, database: str = "postgres") -> str:
        return f"postgres://{self.user}@{self.host}:{self.port}/{database}"

    @property
    def url(self) -> str:
        return self.url_for("postgres")

    @property
    def data_dir(self) -> Path:
        return self.folder / "data"

    @property
    def running(self) -> bool:
        return self.folder is not None and port_answers(self.port, self.host)

    def start(self) -> Self:
        if self.folder is None:
            self._init()
        if not self.running:
            server = f"-p {self.port} -h {self.host} -k {self.folder} -c fsync=off"
            server += "".join(f" -c {name}={value}" for name, value in self.server_settings.items())
            log = self.folder / "log"
            wait = ["-w", "-t", str(START_TIMEOUT_SECONDS)]
            self._run("pg_ctl", "-D", self.data_dir, "-l", log, "-o", server, *wait, "start")
        return self

    def stop(self, mode: str = "fast") -> None:
        """Stop the server; mode "immediate" is a crash (recovery on the next start)."""
        if self.folder is not None and (self.data_dir / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", self.data_dir, "-m", mode, "-w", "stop")

    def remove(self) -> None:
        """Stop the server and delete the cluster's folder."""
        self.stop(mode="immediate")
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None

    def log_size(self) -> int:
        """Where the server's log ends now, for `log_since`."""
        return (self.folder / "log").stat().st_size

    def log_since(self, position: int) -> str:
        with (self.folder / "log").open("rb") as log:
            log.seek(position)
            return log.read().decode(errors="replace")

    def sql(self, query: str, database: str = "postgres") -> str:
        """The first column of the query's first row, as text (psql)."""
        return self._run(
            "psql", "-h", self.host, "-p", self.port, "-U", self.user, "-d", database,
            "-XAtc", query,
        ).strip()  # fmt: skip

    def create_database(self, name: str) -> str:
        """Create database `name` and answer its URL."""
        self._run("createdb", "-h", self.host, "-p", self.port, "-U", self.user, name)
        return self.url_for(name)

    def _init(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="own-postgres-", dir=self.parent))
        if os.geteuid() == 0:
            shutil.chown(self.folder, user=self.user, group=self.user)
        options = ["-U", self.user, "-A", "trust", "-E", "UTF8", "--no-sync", "--no-instructions"]
        self._run("initdb", "-D", self.data_dir, *options)
        if self.clients:
            with (self.data_dir / "pg_hba.conf").open("a") as rules:
                rules.write(f"host all all {self.clients} trust\n")

    def _run(self, program: str, *arguments) -> str:
        command = [str(self.bin / program), *map(str, arguments)]
        if os.geteuid() == 0:
            command = ["runuser", "-u", self.user, "--", *command]
        # pg_ctl's server keeps the pipes open unless it logs to a file, which it does (-l).
        completed = subprocess.run(command, capture_output=True, text=True, cwd=self.folder)
        if completed.returncode:
            raise RuntimeError(
                f"{' '.join(command)} failed: {completed.stderr or completed.stdout}"
            )
        return completed.stdout

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.remove()


class OwnReplica(OwnPostgres):
    """A streaming replica of an `OwnPostgres` primary: `pg_basebackup -R` of it into a
    temporary folder (initdb's pg_hba.conf lets local replication connections in), started on
    a spare port as a hot standby that reads the primary's WAL as it is written."""

    def __init__(self, primary: OwnPostgres, **options):
        super().__init__(**options)
        self.primary = primary

    def _init(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="own-replica-"))
        if os.geteuid() == 0:
            shutil.chown(self.folder, user=self.user, group=self.user)
        source = ["-h", "127.0.0.1", "-p", self.primary.port, "-U", self.user]
        # A fast checkpoint: the default spreads it over minutes on an idle primary.
        copy = ["-D", self.data_dir, "-R", "-X", "stream", "-N", "--checkpoint=fast"]
        self._run("pg_basebackup", *source, *copy)

    def replayed(self) -> bool:
        """Whether it has replayed everything its primary has written so far."""
        position = self.primary.sql("SELECT pg_current_wal_lsn()")
        return self.sql(f"SELECT pg_last_wal_replay_lsn() >= '{position}'") == "t"

    def wait_replayed(self, timeout: float = START_TIMEOUT_SECONDS) -> None:
        _wait_for(self.replayed, what="the replica replayed its primary's WAL", timeout=timeout)


OPS_USER = """
from django.contrib.auth.models import User
from accounts.models import Membership, Organization, Role
user = User.objects.create_superuser("ops", "ops@example.com", "{password}")
organization = Organization.objects.create(name="Ops", slug="ops")
Membership.objects.create(user=user, organization=organization, role=Role.ADMIN)
"""


class HubServer:
    """gunicorn serving this checkout on a database of the test's own, as in production
    (DEBUG off), with a superuser `ops`."""

    password = "outage-drill-password"

    def __init__(self, database_url: str, folder: Path, environment: dict[str, str] | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = folder / "gunicorn.log"
        self.env = {
            "PATH": os.environ["PATH"],
            "DATABASE_URL": database_url,
            "DEBUG": "0",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "VAR_DIR": str(folder / "var"),
            **(environment or {}),
        }
        self.process: subprocess.Popen | None = None

    def start(self) -> "HubServer":
        self.manage("migrate", "--noinput", "-v", "0")
        self.manage("shell", "-c", OPS_USER.format(password=self.password))
        command = [sys.executable, "-m", "gunicorn", "config.wsgi:application"]
        command += ["--bind", f"127.0.0.1:{self.port}", "--workers", "1"]
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                command, cwd=BASE_DIR, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 20
        while not port_answers(self.port):
            assert self.process.poll() is None, self.log_text()
            assert time.monotonic() < deadline, self.log_text()
            time.sleep(0.1)
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=15)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def manage(self, *arguments: str) -> str:
        """Runs a management command with the server's environment; answers its output."""
        command = [sys.executable, "manage.py", *arguments]
        done = subprocess.run(command, cwd=BASE_DIR, env=self.env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return done.stdout
