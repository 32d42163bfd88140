"""Beat through a database outage: it stays up, logs one line when the database goes and one
when it is back. django-celery-beat's own scheduler died at start while the database was down,
and when its 5-minute full read of the schedule met an outage."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parent.parent.parent
GONE = "beat: the database is unavailable"
BACK = "beat: the database answers again"
BROKER_GONE = "beat: the broker is unavailable"
BROKER_BACK = "beat: the broker answers again"
PING_EVERY_SECOND = """
from django_celery_beat.models import IntervalSchedule, PeriodicTask
every_second = IntervalSchedule.objects.create(every=1, period="seconds")
PeriodicTask.objects.create(name="ping", task="reporting_hub.ping", interval=every_second)
"""


class Beat:
    def __init__(self, env: dict[str, str], folder: Path, name: str):
        self.log = folder / f"{name}.log"
        command = [sys.executable, "-m", "celery", "-A", "config", "beat", "--loglevel", "INFO"]
        command += ["--max-interval", "1", "--schedule", str(folder / f"{name}-schedule")]
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                command, cwd=BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT
            )

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, line: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while line not in self.text():
            assert self.process.poll() is None, self.text()
            assert time.monotonic() < deadline, self.text()
            time.sleep(0.2)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=15)


@pytest.fixture
def beat_env(own_postgres, own_redis, tmp_path):
    env = {
        "PATH": os.environ["PATH"],
        "DATABASE_URL": own_postgres.create_database("hub"),
        "CELERY_BROKER_URL": own_redis.url,
        "VAR_DIR": str(tmp_path / "var"),
    }
    for command in (["migrate", "--noinput", "-v", "0"], ["shell", "-c", PING_EVERY_SECOND]):
        done = subprocess.run(
            [sys.executable, "manage.py", *command],
            cwd=BASE_DIR,
            env=env,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr
    return env


def test_beat_rides_out_a_database_outage_with_one_line_each_way(own_postgres, beat_env, tmp_path):
    running = Beat(beat_env, tmp_path, "running")
    started_in_outage = None
    try:
        running.wait_for("beat: Starting")
        time.sleep(1)
        own_postgres.stop()
        running.wait_for(GONE)
        started_in_outage = Beat(beat_env, tmp_path, "started-in-outage")
        started_in_outage.wait_for(GONE)
        time.sleep(3)  # three more ticks each

        own_postgres.start()
        for beat in (running, started_in_outage):
            beat.wait_for(BACK)
            assert beat.text().count(GONE) == 1
            # django-celery-beat's traceback per tick; one if a read was under way as it went.
            assert beat.text().count("Database gave error") <= 1
    finally:
        for beat in (running, started_in_outage):
            if beat:
                beat.stop()


def test_beat_skips_due_runs_while_the_broker_is_down_with_one_line_each_way(
    own_redis, beat_env, tmp_path
):
    beat = Beat(beat_env, tmp_path, "beat")
    try:
        beat.wait_for("Sending due task ping")
        own_redis.stop()
        beat.wait_for(BROKER_GONE)
        time.sleep(3)  # three more due runs
        own_redis.start()
        beat.wait_for(BROKER_BACK)
        assert beat.text().count(BROKER_GONE) == 1
        assert "Message Error" not in beat.text()
    finally:
        beat.stop()
