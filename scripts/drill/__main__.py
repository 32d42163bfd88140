"""The multi-host drill: `python -m scripts.drill` from the repository (as root), or
`scripts/multi-host-drill.sh`. See scripts/drill/cluster.py for the layout and the README's
"The multi-host drill" for what it checks. Exits 0 when every check passed, 1 on a failure (with
the hosts' logs), 2 when it cannot run here, 130 when interrupted (Ctrl-C, SIGTERM); it cleans
up in every case."""

import fcntl
import os
import shutil
import signal
import sys
import time
import traceback

from config.tests.services import OwnPostgres
from scripts.drill import flow
from scripts.drill.cluster import BEAT, HOSTS, RUN_DIR, WEB, Cluster
from scripts.drill.hosts import DrillFailure
from scripts.drill.network import BRIDGE, GATEWAY, NETWORK, NetworkError

LOCK = RUN_DIR.with_name("reporting-hub-drill.lock")
NEEDED = ("ip", "unshare", "redis-server", "pdftotext")


def main() -> int:
    if reason := unavailable():
        print(f"multi-host drill: cannot run here: {reason}", file=sys.stderr)
        return 2
    with LOCK.open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"multi-host drill: another run holds {LOCK}", file=sys.stderr)
            return 2
        signal.signal(signal.SIGTERM, signal.default_int_handler)  # stops it as Ctrl-C does
        return drill()


def unavailable() -> str:
    if os.geteuid() != 0:
        return "network namespaces need root (sudo)"
    missing = [program for program in NEEDED if shutil.which(program) is None]
    if missing:
        return f"missing {', '.join(missing)}"
    return OwnPostgres.unavailable()


def drill() -> int:
    started = time.monotonic()

    def say(text: str) -> None:
        print(f"[{time.monotonic() - started:6.1f}s] {text}", flush=True)

    cluster = Cluster()
    status = 1
    try:
        bring_up(cluster, say)
        flow.run(cluster, say)
        status = 0
    except (DrillFailure, NetworkError) as failure:
        say(f"FAILED: {failure}")
    except KeyboardInterrupt:
        say("interrupted (Ctrl-C or SIGTERM)")
        status = 130
    except Exception:
        say("FAILED with an error in the drill itself:")
        traceback.print_exc()
    if status == 1:
        print(f"\nThe hosts' logs (last lines):\n{cluster.logs()}", flush=True)
    for number in (signal.SIGINT, signal.SIGTERM):  # a second Ctrl-C must not stop the cleanup
        signal.signal(number, signal.SIG_IGN)
    try:
        cluster.down()
    except Exception as error:
        say(f"cleanup incomplete: {error}")
        status = status or 1
    say(("PASSED" if status == 0 else "cleaned up") + f" in {time.monotonic() - started:.0f} s")
    return status


def bring_up(cluster: Cluster, say) -> None:
    cluster.network_up()
    say(
        f"network {NETWORK} on bridge {BRIDGE}: "
        + ", ".join(f"{h.name} {h.address}" for h in HOSTS)
    )
    cluster.services_up()
    say(f"on {GATEWAY}: PostgreSQL :{cluster.postgres.port}, Redis :{cluster.redis.port}, "
        f"S3 (moto) {cluster.s3_endpoint}, webhook receiver :{cluster.receiver.port}")  # fmt: skip
    cluster.manage(WEB, "migrate", "--noinput", "-v", "0")
    cluster.manage(WEB, "shell", "-c", "from accounts.services import demo_setup; demo_setup()")
    say("web: database migrated; the demo organisation and its admin created")
    cluster.hosts_up()
    say(f"web: gunicorn on {cluster.web_url}; worker-a: Celery on `reports`; worker-b: Celery "
        f"on `deliveries,analytics,maintenance`; {BEAT.name}: Celery beat")  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
