"""What runs on the drill's hosts: the Procfile's processes and one-off `manage.py` commands,
each inside its host with that host's environment, its output in a log file of its own."""

import contextlib
import os
import shlex
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from scripts.drill.network import Host

BASE_DIR = Path(__file__).resolve().parent.parent.parent
PYTHON = BASE_DIR / ".venv" / "bin" / "python"


class DrillFailure(RuntimeError):
    """A step of the drill did not do what it should; the message says what was seen."""


def procfile_command(kind: str, *extra: str) -> list[str]:
    """The Procfile's line for `kind` (web, worker, beat), with `extra` arguments appended, as
    honcho would run it: through the shell, which expands its ${VARIABLE:-default}s."""
    for line in (BASE_DIR / "Procfile").read_text().splitlines():
        name, _, command = line.partition(":")
        if name.strip() == kind:
            return ["sh", "-c", f"exec {command.strip()} {shlex.join(extra)}"]
    raise DrillFailure(f"the Procfile has no {kind!r} line")


class HostProcess:
    """A long-running process on a host, in a process group of its own (so Ctrl-C reaches the
    drill, which stops it, and a stop reaches its children: gunicorn's and Celery's workers)."""

    def __init__(self, label: str, host: Host, argv: Sequence[str], env: dict, log: Path):
        self.label = label
        self.host = host
        self.argv = list(argv)
        self.env = env
        self.log = log
        self.process: subprocess.Popen | None = None

    def start(self) -> "HostProcess":
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                self.host.command(self.argv),
                cwd=BASE_DIR,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def wait_for_log(self, text: str, *, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.log.read_text(errors="replace"):
            if self.process.poll() is not None:
                raise DrillFailure(
                    f"{self.label} on {self.host.name} exited ({self.process.returncode})"
                )
            if time.monotonic() > deadline:
                raise DrillFailure(
                    f"{self.label} on {self.host.name}: no {text!r} within {timeout} s"
                )
            time.sleep(0.2)

    def log_mentions(self, text: str) -> bool:
        return text in self.log.read_text(errors="replace")

    def terminate(self) -> None:
        """Ask it to stop (SIGTERM to its group); `stop` then waits for it."""
        if self.process is not None and self.process.poll() is None:
            _signal_group(self.process.pid, signal.SIGTERM)

    def stop(self, *, timeout: float = 15) -> None:
        """Stop it and its children: SIGTERM, then SIGKILL after `timeout` seconds."""
        if self.process is None:
            return
        self.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=timeout)
        _signal_group(self.process.pid, signal.SIGKILL)  # what is left, children included
        self.process.wait()


def _signal_group(pgid: int, number: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, number)


def manage(host: Host, env: dict, log: Path, *arguments: str, timeout: float = 180) -> str:
    """`python manage.py …` on `host`; its output goes to `log` too. A failure is a DrillFailure
    with the output's end."""
    command = host.command([str(PYTHON), "manage.py", *arguments])
    try:
        done = subprocess.run(
            command, cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired as expired:
        raise DrillFailure(
            f"manage.py {arguments[0]} on {host.name}: over {timeout} s"
        ) from expired
    with log.open("a") as file:
        file.write(f"$ manage.py {shlex.join(arguments)}\n{done.stdout}{done.stderr}")
    if done.returncode:
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-30:])
        raise DrillFailure(f"manage.py {arguments[0]} on {host.name} failed:\n{tail}")
    return done.stdout


def log_tail(path: Path, lines: int = 60) -> str:
    if not path.exists():
        return "(no log)"
    tail = path.read_text(errors="replace").splitlines()[-lines:]
    return "\n".join(line if len(line) < 400 else f"{line[:400]}…" for line in tail)
