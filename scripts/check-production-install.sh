#!/usr/bin/env bash
# requirements.txt alone, without the development packages, must run the documented production
# parts: Celery's Redis and RabbitMQ transports load and connect, and Django starts (its checks).
# A dependency only the test tools bring in (as `packaging` was for kombu's Redis transport)
# fails here, not in production.
set -euo pipefail
cd "$(dirname "$0")/.."
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

python3 -m venv "$scratch/venv"
"$scratch/venv/bin/pip" install -q -r requirements.txt 2>"$scratch/pip.log" ||
  { cat "$scratch/pip.log"; exit 1; }
"$scratch/venv/bin/python" - <<'PY'
from kombu import Connection

for url in ("redis://127.0.0.1:6379/15", "amqp://guest:guest@127.0.0.1:5672//"):
    with Connection(url, connect_timeout=5) as connection:
        connection.ensure_connection(max_retries=2)
        print(f"{url.split(':')[0]} broker: connected with requirements.txt alone")
PY
VAR_DIR="$scratch/var" "$scratch/venv/bin/python" manage.py check
