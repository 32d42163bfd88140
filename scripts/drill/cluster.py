"""The drill's machines and services, brought up and taken down.

Hosts (each a network namespace with its own hostname and its own VAR_DIR):
  web       gunicorn, the Procfile's `web` line
  worker-a  a Celery worker on the `reports` queue (renders)
  worker-b  a Celery worker on `deliveries`, `analytics` and `maintenance`
  beat      Celery beat
Shared, on the root side of the bridge (GATEWAY): a PostgreSQL cluster, a redis-server and moto's
S3 server of the drill's own on spare ports, and the webhook receiver. The shared PostgreSQL and
Redis a developer or CI runs on 127.0.0.1 are never touched.

Everything lives under RUN_DIR; a run killed outright (SIGKILL) leaves it, and the next run
removes what it finds there (processes, the cluster, namespaces) before it starts.
"""

import logging
import os
import secrets
import shutil
import signal
import tempfile
import time
from pathlib import Path

import boto3
import requests
from moto.server import ThreadedMotoServer

from config.tests.services import OwnPostgres, OwnRedis
from scripts.drill.hosts import (
    PYTHON,
    DrillFailure,
    HostProcess,
    log_tail,
    manage,
    procfile_command,
)
from scripts.drill.network import GATEWAY, NETWORK, Host, network_create, network_remove
from scripts.drill.receiver import WebhookReceiver

RUN_DIR = Path(tempfile.gettempdir()) / "reporting-hub-drill"
WEB = Host("web", "10.231.0.10")
WORKER_A = Host("worker-a", "10.231.0.11")
WORKER_B = Host("worker-b", "10.231.0.12")
BEAT = Host("beat", "10.231.0.13")
HOSTS = (WEB, WORKER_A, WORKER_B, BEAT)
WEB_PORT = 8000
BUCKET = "reporting-hub-drill"
PREFIX = "outputs"
ACCESS_KEY = "drill-access-key"
SECRET_ACCESS_KEY = "drill-secret-access-key"
START_TIMEOUT = 90


class Cluster:
    def __init__(self) -> None:
        self.postgres: OwnPostgres | None = None
        self.redis: OwnRedis | None = None
        self.moto: ThreadedMotoServer | None = None
        self.s3_endpoint = ""
        self.receiver = WebhookReceiver(GATEWAY)
        self.database_url = ""
        self.processes: dict[str, HostProcess] = {}
        self.secret_key = secrets.token_urlsafe(50)

    @property
    def web_url(self) -> str:
        return f"http://{WEB.address}:{WEB_PORT}"

    # --- up ------------------------------------------------------------------------------
    def network_up(self) -> None:
        network_remove()  # a killed run's namespaces
        stale_remove()
        RUN_DIR.mkdir(mode=0o755)
        for host in HOSTS:
            (RUN_DIR / host.name / "var").mkdir(parents=True)
        network_create(HOSTS)

    def services_up(self) -> None:
        self.postgres = OwnPostgres(host=GATEWAY, clients=str(NETWORK), parent=RUN_DIR)
        self.postgres.start()
        self.database_url = self.postgres.create_database("hub")
        self.redis = OwnRedis(host=GATEWAY).start()
        (RUN_DIR / "redis.pid").write_text(str(self.redis.process.pid))
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's server: no request log
        self.moto = ThreadedMotoServer(ip_address=GATEWAY, port=0, verbose=False)
        self.moto.start()
        host, port = self.moto.get_host_and_port()
        self.s3_endpoint = f"http://{host}:{port}"
        self.s3().create_bucket(Bucket=BUCKET)
        self.receiver.start()

    def s3(self):
        return boto3.client(
            "s3",
            endpoint_url=self.s3_endpoint,
            region_name="us-east-1",
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_ACCESS_KEY,
        )

    def environment(self, host: Host) -> dict[str, str]:
        """What every host is configured with, as in production: the same settings everywhere
        but VAR_DIR, which is each machine's own disk."""
        return {
            "PATH": f"{PYTHON.parent}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME": str(RUN_DIR / host.name),
            "LANG": "C.UTF-8",
            "VAR_DIR": str(RUN_DIR / host.name / "var"),
            "SECRET_KEY": self.secret_key,
            "DEBUG": "false",
            "ALLOWED_HOSTS": WEB.address,
            "SITE_URL": self.web_url,
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis.url_for(1),
            "CELERY_BROKER_URL": self.redis.url_for(2),
            "CELERY_RESULT_BACKEND": self.redis.url_for(3),
            "REPORT_STORAGE_URL": f"s3://{BUCKET}/{PREFIX}?endpoint_url={self.s3_endpoint}",
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
            "AWS_DEFAULT_REGION": "us-east-1",
            "DELIVERY_ALLOWED_HOSTS": f"{GATEWAY}:{self.receiver.port}",
            "LOG_LEVEL": "INFO",
            "HOST": host.address,
            "PORT": str(WEB_PORT),
            "WEB_CONCURRENCY": "2",
            "WORKER_CONCURRENCY": "1",
        }

    def log(self, name: str) -> Path:
        return RUN_DIR / f"{name}.log"

    def manage(self, host: Host, *arguments: str, timeout: float = 180) -> str:
        return manage(
            host, self.environment(host), self.log(host.name), *arguments, timeout=timeout
        )

    def hosts_up(self) -> None:
        """Start every process, then wait until each says it is ready."""
        workers = {
            WORKER_A: ("reports",),
            WORKER_B: ("deliveries", "analytics", "maintenance"),
        }
        self._start("web", WEB, procfile_command("web"))
        for host, queues in workers.items():
            command = procfile_command("worker", "-Q", ",".join(queues), "-n", f"{queues[0]}@%h")
            self._start(host.name, host, command)
        self._start("beat", BEAT, procfile_command("beat"))
        self.processes["web"].wait_for_log("Booting worker", timeout=START_TIMEOUT)
        self._web_healthy()
        for host, queues in workers.items():
            self.processes[host.name].wait_for_log(
                f"{queues[0]}@{host.name} ready", timeout=START_TIMEOUT
            )
        self.processes["beat"].wait_for_log("beat: Starting", timeout=START_TIMEOUT)

    def _web_healthy(self) -> None:
        """/healthz answers 200: the web host reaches the database, Redis and the bucket."""
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                answer = requests.get(f"{self.web_url}/healthz", timeout=10)
                if answer.status_code == 200:
                    return
                seen = f"{answer.status_code} {answer.text[:300]}"
            except requests.RequestException as error:
                seen = str(error)
            if time.monotonic() > deadline:
                raise DrillFailure(f"web's /healthz: {seen}")
            time.sleep(0.5)

    def _start(self, name: str, host: Host, argv: list[str]) -> None:
        process = HostProcess(name, host, argv, self.environment(host), self.log(name))
        self.processes[name] = process.start()

    # --- down ----------------------------------------------------------------------------
    def logs(self) -> str:
        parts = [
            f"==== {name} ({self.log(name)})\n{log_tail(self.log(name))}" for name in self.processes
        ]
        if self.postgres is not None and self.postgres.folder is not None:
            parts.append(f"==== PostgreSQL\n{log_tail(self.postgres.folder / 'log', 20)}")
        return "\n".join(parts)

    def down(self) -> None:
        """Everything the drill started, whatever state it got to; every step is attempted."""
        steps = [process.terminate for process in self.processes.values()]  # all at once
        steps += [process.stop for process in self.processes.values()]
        steps += [network_remove, self.receiver.stop]
        if self.moto is not None:
            steps.append(self.moto.stop)
        if self.redis is not None:
            steps.append(self.redis.stop)
        if self.postgres is not None:
            steps.append(self.postgres.remove)
        steps.append(lambda: shutil.rmtree(RUN_DIR, ignore_errors=True))
        errors = []
        for step in steps:
            try:
                step()
            except Exception as error:
                errors.append(f"{getattr(step, '__qualname__', step)}: {error}")
        if errors:
            raise RuntimeError("cleaning up: " + "; ".join(errors))


def stale_remove() -> None:
    """What a killed run left in RUN_DIR: its redis-server, its PostgreSQL cluster, the folder."""
    if not RUN_DIR.exists():
        return
    pid_file = RUN_DIR / "redis.pid"
    if pid_file.exists():
        pid = int(pid_file.read_text())
        cmdline = Path(f"/proc/{pid}/cmdline")
        if cmdline.exists() and b"redis-server" in cmdline.read_bytes():
            os.kill(pid, signal.SIGKILL)
    for pid_path in RUN_DIR.glob("own-postgres-*/data/postmaster.pid"):
        cluster = OwnPostgres()
        cluster.folder = pid_path.parent.parent
        cluster.remove()
    shutil.rmtree(RUN_DIR)
