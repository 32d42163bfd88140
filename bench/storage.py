"""Report files on S3 (REPORT_STORAGE_URL): storing a rendered output and downloading it through
the service, against bare boto3 doing the same, on moto's S3 server in a process of its own.

    .venv/bin/python bench/storage.py [--mb 256] [--rounds 3]

For a 16 MB file and one of --mb MB, each run in a fresh process (so each peak RSS is its own),
the two sides alternating round by round so a slow spell of this shared machine falls on both:
  store     ours: reporting.services.executions' _output_store, the render's path onto
                  S3Storage (boto3's multipart upload from the spool file)
            bare: boto3's upload_file of the same file (the same transfer defaults)
  download  ours: reporting.views.output_file_response, every chunk of its streaming content
                  read as a client would (the body of S3's GET, chunk by chunk)
            bare: boto3's get_object, its body read with iter_chunks
  naive     for comparison only: Django's FileResponse over S3Storage.open(), which fetches the
            whole object (to a spooled temporary file) before its first byte
Every download must give the file's exact sha256, or the benchmark stops. Each side makes its S3
connection before the clock starts (a long-lived process has it). Times are the fastest of the
rounds; peak RSS (getrusage's ru_maxrss) the largest, and "+work" what the peak rose by during
the work (Django and WeasyPrint's imports make ours start higher).
Goals at --mb: ours at most 1.5x bare's time, each; the RSS ours' work adds within 16 MB of what
bare's adds for a download, 40 MB for a store (up to 4 parts of 8 MB read ahead); the
download's grows by less than 16 MB from the 16 MB file to the large one (nothing is held
whole in memory). A benchmark, not a test: misses are printed and the exit
status is 0.
"""

import argparse
import hashlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

PROJECT = Path(__file__).resolve().parents[1]
SMALL_MB = 16
BUCKET, PREFIX = "bench-reports", "bench"
TIME_GOAL, GROWTH_GOAL_MB = 1.5, 16
# RSS ours' work may add over bare's: a store holds up to 4 parts of 8 MB read ahead in memory
# (config.env's transfer config; bare uploads from the file name, reading parts as it sends).
RSS_GOAL_MB = {"store": 4 * 8 + 8, "download": 16}
RUNS = ("store-ours", "store-bare", "download-ours", "download-bare", "download-naive")


def arguments_parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=int, default=256, help="size of the large file")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--run", choices=RUNS, help=argparse.SUPPRESS)
    parser.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--endpoint", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.mb <= SMALL_MB or arguments.rounds < 1:
        parser.error(f"--mb must be more than {SMALL_MB} and --rounds at least 1.")
    return arguments


# --- the parent ------------------------------------------------------------------------------


def main() -> None:
    arguments = arguments_parse()
    if arguments.run:
        print(json.dumps(CHILDREN[arguments.run](arguments.file, arguments.endpoint)))
        return
    with tempfile.TemporaryDirectory() as folder, moto_server() as endpoint:
        client(endpoint).create_bucket(Bucket=BUCKET)
        results = {}
        for mb in (SMALL_MB, arguments.mb):
            path = file_write(Path(folder) / f"output-{mb}.bin", mb)
            results[mb] = size_measure(path, endpoint, arguments.rounds)
        print(f"load average {os.getloadavg()[0]:.2f}, {os.cpu_count()} cores")
        report(results, arguments.mb)


def size_measure(path: Path, endpoint: str, rounds: int) -> dict[str, dict[str, Any]]:
    expected = sha256_of(path)
    found: dict[str, list[dict[str, Any]]] = {run: [] for run in RUNS}
    for _ in range(rounds):
        for run in RUNS:
            result = child(run, path, endpoint)
            if run.startswith("download") and result["sha256"] != expected:
                raise SystemExit(f"{run} of {path.name} gave other bytes.")
            found[run].append(result)
    return {
        run: {
            "seconds": min(r["seconds"] for r in results),
            "first_byte": min(r.get("first_byte", 0.0) for r in results),
            "peak_mb": max(r["peak_mb"] for r in results),
            "work_mb": max(r["work_mb"] for r in results),
        }
        for run, results in found.items()
    }


def report(results: dict[int, dict[str, dict[str, Any]]], large: int) -> None:
    print(
        f"{'run':15} {'MB':>5} {'s':>7} {'MB/s':>7} {'1st byte s':>10} {'peak MB':>8} "
        f"{'+work MB':>8}"
    )
    for mb, runs in results.items():
        for run, result in runs.items():
            print(
                f"{run:15} {mb:>5} {result['seconds']:7.2f} {mb / result['seconds']:7.1f} "
                f"{result['first_byte']:10.3f} {result['peak_mb']:8.1f} {result['work_mb']:8.1f}"
            )
    runs = results[large]
    for kind in ("store", "download"):
        ours, bare = runs[f"{kind}-ours"], runs[f"{kind}-bare"]
        ratio, extra = ours["seconds"] / bare["seconds"], ours["work_mb"] - bare["work_mb"]
        verdict("time", ratio <= TIME_GOAL, f"{kind} {large} MB: ours/bare {ratio:.2f}x "
                f"(goal at most {TIME_GOAL}x)")  # fmt: skip
        verdict("memory", extra <= RSS_GOAL_MB[kind], f"{kind} {large} MB: RSS the work adds, "
                f"ours - bare {extra:+.1f} MB (goal at most {RSS_GOAL_MB[kind]} MB)")  # fmt: skip
    growth = runs["download-ours"]["work_mb"] - results[SMALL_MB]["download-ours"]["work_mb"]
    verdict("memory", growth < GROWTH_GOAL_MB, f"download: RSS the work adds grows "
            f"{growth:+.1f} MB from {SMALL_MB} MB to {large} MB (goal under "
            f"{GROWTH_GOAL_MB} MB)")  # fmt: skip


def verdict(what: str, passed: bool, text: str) -> None:
    print(f"{'PASS' if passed else 'MISSED':6} {what:6} {text}")


def child(run: str, path: Path, endpoint: str) -> dict[str, Any]:
    command = [sys.executable, __file__, "--run", run, "--file", str(path), "--endpoint", endpoint]
    process = subprocess.run(command, stdout=subprocess.PIPE, check=False, cwd=PROJECT)
    if process.returncode:
        raise SystemExit(f"The {run} run of {path.name} failed.")
    return json.loads(process.stdout)


class moto_server:
    """`python -m moto.server` on a spare port, in a process of its own (its memory apart)."""

    def __enter__(self) -> str:
        sys.path.insert(0, str(PROJECT))
        from config.tests.services import free_port, port_answers

        port = free_port()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while not port_answers(port):
            if time.monotonic() > deadline:
                raise SystemExit("moto's server did not start.")
            time.sleep(0.2)
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *exc: object) -> None:
        self.process.terminate()
        self.process.wait()


def file_write(path: Path, mb: int) -> Path:
    block = os.urandom(2**20)  # incompressible, and the same MB repeated: cheap to make
    with path.open("wb") as out:
        for _ in range(mb):
            out.write(block)
    return path


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(2**20):
            digest.update(chunk)
    return digest.hexdigest()


def client(endpoint: str):
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
    )


# --- the children ----------------------------------------------------------------------------


def django_setup(endpoint: str) -> None:
    os.environ.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        REPORT_STORAGE_URL=f"s3://{BUCKET}/{PREFIX}?endpoint_url={endpoint}",
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        VAR_DIR=tempfile.mkdtemp(prefix="bench-storage-"),
    )
    sys.path.insert(0, str(PROJECT))
    import django

    django.setup()


def measured(work, *args: Any) -> dict[str, Any]:
    ready_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.perf_counter()
    result = work(started, *args) or {}
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"seconds": seconds, "peak_mb": peak_mb, "work_mb": peak_mb - ready_mb, **result}


def storage_ready():
    """The reports' storage with its S3 connection made, as in a process that served before."""
    from reporting.models import report_storage

    storage = report_storage()
    storage.connection.meta.client.head_bucket(Bucket=BUCKET)
    return storage


def store_ours(path: Path, endpoint: str) -> dict[str, Any]:
    django_setup(endpoint)
    from reporting.services.executions import _output_store

    storage = storage_ready()
    return measured(
        lambda _: {"name": _output_store(storage, key(path), path, "application/octet-stream")}
    )


def store_bare(path: Path, endpoint: str) -> dict[str, Any]:
    s3 = client(endpoint)
    s3.head_bucket(Bucket=BUCKET)
    return measured(lambda _: s3.upload_file(str(path), BUCKET, f"{PREFIX}/reports/{key(path)}"))


def download_ours(path: Path, endpoint: str) -> dict[str, Any]:
    django_setup(endpoint)
    from reporting.models import ReportOutput
    from reporting.views import output_file_response

    output = ReportOutput(
        file=key(path), filename=path.name, content_type="application/octet-stream"
    )
    storage_ready()
    return measured(lambda started: read_all(started, output_file_response(output)))


def download_naive(path: Path, endpoint: str) -> dict[str, Any]:
    django_setup(endpoint)
    from django.http import FileResponse

    storage = storage_ready()
    return measured(lambda started: read_all(started, FileResponse(storage.open(key(path), "rb"))))


def download_bare(path: Path, endpoint: str) -> dict[str, Any]:
    s3 = client(endpoint)
    s3.head_bucket(Bucket=BUCKET)

    def read(started: float) -> dict[str, Any]:
        body = s3.get_object(Bucket=BUCKET, Key=f"{PREFIX}/reports/{key(path)}")["Body"]
        return digest_chunks(started, body.iter_chunks(FILE_RESPONSE_BLOCK))

    return measured(read)


FILE_RESPONSE_BLOCK = 64 * 1024  # reporting.views.DOWNLOAD_BLOCK_BYTES: the same reads


def read_all(started: float, response) -> dict[str, Any]:
    result = digest_chunks(started, response.streaming_content)
    response.close()
    return result


def digest_chunks(started: float, chunks) -> dict[str, Any]:
    digest, first_byte = hashlib.sha256(), None
    for chunk in chunks:
        if first_byte is None:
            first_byte = time.perf_counter() - started
        digest.update(chunk)
    return {"sha256": digest.hexdigest(), "first_byte": first_byte}


def key(path: Path) -> str:
    return f"acme/1/bench/{path.name}"


CHILDREN = {
    "store-ours": store_ours,
    "store-bare": store_bare,
    "download-ours": download_ours,
    "download-bare": download_bare,
    "download-naive": download_naive,
}

if __name__ == "__main__":
    main()
