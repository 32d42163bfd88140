#!/usr/bin/env bash
# requirements.txt alone, without the development packages, must run the documented production
# parts. In a fresh venv of requirements.txt only, scripts/production_install_check.py migrates
# a PostgreSQL database of its own (install_check, dropped after) and runs setup_demo, then, on
# a Redis broker and on a RabbitMQ broker in turn, starts the Procfile's web, worker and beat,
# runs a report through the API and reads its files back, checks beat's every-minute check ran,
# and stops them. A dependency only the test tools bring in (as `packaging` was for kombu's Redis
# transport) fails here, not in production. Needs PostgreSQL, Redis and RabbitMQ on 127.0.0.1
# (.ci/run starts them); uses Redis db 12 and queues of its own on RabbitMQ's default vhost.
set -euo pipefail
cd "$(dirname "$0")/.."
INSTALL_CHECK_STARTED=$(date +%s)  # the driver's step lines count from here too
export INSTALL_CHECK_STARTED

# One run at a time on this machine: the database, the Redis db and the queues are fixed names.
exec 9>"${TMPDIR:-/tmp}/reporting-hub-check-production-install.lock"
flock -w 300 9 || { echo "another check-production-install.sh still runs after 300 s"; exit 1; }

scratch=$(mktemp -d -t reporting-hub-install.XXXXXX)
driver=""
cleanup() {
  if [ -n "$driver" ]; then
    kill -TERM "$driver" 2>/dev/null || true
    wait "$driver" 2>/dev/null || true
  fi
  # Had the driver itself been killed, the process groups it started would be left: end them.
  if [ -f "$scratch/pgids" ]; then
    while read -r pgid; do kill -KILL -- "-$pgid" 2>/dev/null || true; done <"$scratch/pgids"
  fi
  rm -rf "$scratch"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

python3 -m venv "$scratch/venv"
"$scratch/venv/bin/pip" install -q -r requirements.txt >"$scratch/pip.log" 2>&1 ||
  { tail -n 40 "$scratch/pip.log"; exit 1; }
printf '[%3ds] fresh venv: requirements.txt alone\n' "$(( $(date +%s) - INSTALL_CHECK_STARTED ))"

# In the background, so that a TERM or Ctrl-C reaches the trap at once and cleanup stops it.
"$scratch/venv/bin/python" scripts/production_install_check.py "$scratch" 9>&- &
driver=$!
status=0
wait "$driver" || status=$?
driver=""
exit "$status"
