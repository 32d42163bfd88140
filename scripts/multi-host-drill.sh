#!/usr/bin/env bash
# `make drill`: the multi-host drill (scripts/drill/). The web server, two Celery workers and beat
# run on four "machines" of this one (Linux network namespaces, each with its own hostname and
# VAR_DIR) and share a PostgreSQL, a Redis and an S3 server (moto) of the drill's own; the
# first product description's flow runs through them and the drill says which host did what.
# Needs root (ip netns) and the dev requirements; about one to two minutes (it waits for the
# next whole minute for its schedule); removes everything it made, on failure and Ctrl-C too.
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python -m scripts.drill "$@"
