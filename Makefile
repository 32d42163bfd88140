# The README's commands. `make run` starts the whole service; `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
export HOST PORT

.PHONY: run test lint fmt bench fuzz drill

# `make run` signs with a random key of this machine's own, made on the first run and kept in
# var/ (never the public development key); SECRET_KEY in the environment or .env wins over it.
SECRET_KEY_FILE ?= var/secret_key
run: export SECRET_KEY_FILE := $(SECRET_KEY_FILE)
run: $(VENV)/.installed-run $(SECRET_KEY_FILE)
	@echo "==> Checking the system packages (Pango for PDF outputs)"
	@scripts/system-packages.sh run
	@echo "==> Applying database migrations"
	$(PY) manage.py migrate --noinput -v 0
	@echo "==> Demo organisation, demo login and sample data (loaded on the first run only)"
	$(PY) manage.py setup_demo
	@echo "==> Starting the web server on $(HOST):$(PORT), a Celery worker and beat (Ctrl-C stops them)"
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/honcho start --port $(PORT) --procfile Procfile

test: $(VENV)/.installed-dev
	@scripts/system-packages.sh test
	$(PY) -m pytest

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) manage.py makemigrations --check --dry-run

# Needs PostgreSQL (startup.py and storage.py excepted; DATABASE_URL, else each script's own postgres://postgres@127.0.0.1:5432/reporting_bench*);
# sample_data and dashboard each load 10,000,000 events: about 40 minutes the first time;
# dashboard_page (Chromium) loads 1,000,000 and takes about 2 minutes the first time, 1 after;
# dashboard_live loads 1,000,000 too (its own database) and runs 3 rounds of two 30 s runs.
bench: $(VENV)/.installed-dev
	$(PY) bench/startup.py
	$(PY) bench/exports.py
	$(PY) bench/pdf.py
	$(PY) bench/sources.py
	$(PY) bench/storage.py
	$(PY) bench/schedules.py
	$(PY) bench/ingest.py
	$(PY) bench/partitions.py --baseline-limit 600
	$(PY) bench/sample_data.py
	$(PY) bench/dashboard.py
	$(PY) bench/dashboard_page.py
	$(PY) bench/dashboard_live.py

# Schemathesis against a live server on a fresh database: about 5 minutes (scripts/fuzz.sh).
fuzz: $(VENV)/.installed-dev
	scripts/fuzz.sh

# The multi-host drill (root only: Linux network namespaces): one to two minutes.
drill: $(VENV)/.installed-dev
	scripts/multi-host-drill.sh

fmt: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

$(SECRET_KEY_FILE):
	@mkdir -p $(@D)
	@umask 077 && $(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(64))' > $@.tmp
	@mv $@.tmp $@

$(VENV)/bin/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "Reporting Hub needs Python 3.11 or newer ($(PYTHON) is $$($(PYTHON) -V))."; exit 1; }
	@echo "==> Creating the virtualenv $(VENV)"
	$(PYTHON) -m venv $(VENV)

# Not quiet: pip shows each package as it downloads (the first time, a few minutes).
$(VENV)/.installed-run: requirements.txt | $(VENV)/bin/python
	@echo "==> Installing requirements.txt into $(VENV)"
	$(PY) -m pip install -r requirements.txt
	@touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt | $(VENV)/bin/python
	$(PY) -m pip install -q -r requirements-dev.txt
	@touch $@ $(VENV)/.installed-run
