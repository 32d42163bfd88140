#!/usr/bin/env bash
# `make fuzz`: schemathesis against every operation of /api/schema/ on a live gunicorn, as the
# admin of one organisation (not a superuser), on a fresh SQLite database in a temporary VAR_DIR.
# Fails on any 500, any response that does not match the schema and any undeclared status code.
# FUZZ_EXAMPLES (default 20) bounds the cases per operation; the run takes about 5 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
PY=$root/.venv/bin/python

var_dir=$(mktemp -d -t reporting-hub-fuzz.XXXXXX)
port=$($PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$var_dir"
}
trap cleanup EXIT

# Embedded parts only, whatever the caller's environment says; a random key, DEBUG off.
unset DATABASE_URL REDIS_URL CELERY_BROKER_URL CELERY_RESULT_BACKEND REPORTING_DATABASE_URL
export VAR_DIR="$var_dir" DEBUG=false ALLOWED_HOSTS=127.0.0.1 JWT_ACCESS_MINUTES=60
# Throttles would answer the fuzzer 429 (declared in the schema) instead of testing the views.
export THROTTLE_AUTH_RATE=100000/min THROTTLE_API_RATE=100000/min THROTTLE_INGEST_RATE=100000/min
SECRET_KEY=$($PY -c 'import secrets; print(secrets.token_urlsafe(50))')
export SECRET_KEY

$PY manage.py migrate --noinput -v 0
$PY manage.py shell -v 0 -c 'from accounts.services import demo_setup; demo_setup()'
$PY manage.py load_sample_data --org demo --days 30 --events 2000 >/dev/null

.venv/bin/gunicorn config.wsgi:application --bind "127.0.0.1:$port" --workers 2 \
  --log-level warning >"$var_dir/gunicorn.log" 2>&1 &
server_pid=$!
base="http://127.0.0.1:$port"
# The admin of one organisation, not a superuser (load_sample_data's demo-admin-demo).
access=$($PY - "$base" <<'PYTHON'
import json, sys, time, urllib.request

base = sys.argv[1]
for _ in range(60):
    try:
        urllib.request.urlopen(f"{base}/healthz", timeout=5)
        break
    except OSError:
        time.sleep(0.5)
login = json.dumps({"username": "demo-admin-demo", "password": "demo"}).encode()
request = urllib.request.Request(
    f"{base}/api/v1/auth/token/", login, {"Content-Type": "application/json"}
)
print(json.load(urllib.request.urlopen(request, timeout=10))["access"])
PYTHON
)

status=0
cd "$var_dir"  # schemathesis keeps a cache of failures in the working folder
"$root/.venv/bin/schemathesis" run "$base/api/schema/" \
  --checks not_a_server_error,response_schema_conformance,status_code_conformance \
  --max-examples "${FUZZ_EXAMPLES:-20}" --generation-deterministic \
  --header "Authorization: Bearer $access" --no-color || status=$?
if [ "$status" -ne 0 ] && grep -q Traceback "$var_dir/gunicorn.log"; then
  echo "--- server errors (gunicorn log)"; grep -B2 -A30 Traceback "$var_dir/gunicorn.log" | tail -200
fi
exit "$status"
