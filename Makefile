# cleanheat — the only entry points people need: run · test · bench · lint
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PG_ADMIN_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/postgres
SYSTEM_PACKAGES := chromium fonts-noto-cjk poppler-utils mosquitto
export CLEANHEAT_TEST_PG_URL ?= $(PG_ADMIN_URL)

.PHONY: help install run init serve test test-fast system-deps postgres bench lint clean
help:
	@echo "make run    — set up everything and serve the demo city at http://127.0.0.1:8000 (with live HJ 212 data)"
	@echo "make test   — the whole test suite (SQLite and PostgreSQL, real browser)"
	@echo "make bench  — benchmarks (figures in bench/RESULTS.md)"
	@echo "make lint   — ruff"

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "cleanheat needs Python >= 3.11")'
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Debian packages the tests and PDF reports need (browser, CJK fonts, pdftoppm, MQTT broker).
system-deps:
	@missing=""; for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null; then SUDO=sudo; else \
	    echo "please install:$$missing (apt-get install -y$$missing)"; exit 1; fi; \
	  echo "installing Debian packages:$$missing"; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

# PostgreSQL must answer for the test suite (both stores are tested on every run).
postgres:
	@pg_isready -h 127.0.0.1 -p 5432 -q || { \
	  echo "starting PostgreSQL"; pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql | head -1) main start; \
	  for i in $$(seq 30); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 1; done; }

init: $(STAMP)
	$(BIN)/cleanheat init --demo

# Web processes of `make run`; the background work (jobs, rollups, alarms, the demo twin and HJ 212 feed) runs
# in one `cleanheat worker` beside them (docs/scaling.md).
WEB_WORKERS ?= 2

run: $(STAMP)
	-@$(MAKE) --no-print-directory system-deps || echo "(PDF reports need fonts-noto-cjk for Chinese text)"
	$(BIN)/cleanheat init --demo
	$(BIN)/cleanheat demo-logins
	export CLEANHEAT_DEMO_EMISSIONS_FEED=$${CLEANHEAT_DEMO_EMISSIONS_FEED:-true} \
	  CLEANHEAT_EMISSIONS_RETENTION_DAYS=$${CLEANHEAT_EMISSIONS_RETENTION_DAYS:-3}; \
	$(BIN)/cleanheat worker & worker=$$!; trap 'kill $$worker 2>/dev/null; wait $$worker' EXIT INT TERM; \
	$(BIN)/cleanheat serve --workers $(WEB_WORKERS) --no-background

serve: $(STAMP)
	$(BIN)/cleanheat serve

# Three pytest-xdist workers on the 2 cores of the CI machine: many tests wait (subprocesses starting, the
# browser, PostgreSQL, brokers), so a third worker uses that time (1,536 tests: 7 min 50 s with 3, 8 min 48 s with
# 2, fresh clones on a quiet machine); TEST_WORKERS=0 runs in one process. Tests marked xdist_group stay together.
TEST_WORKERS ?= 3
PYTEST := $(BIN)/python -m pytest -q -p no:cacheprovider -n $(TEST_WORKERS) --dist loadgroup --durations=15

test: system-deps postgres $(STAMP)
	$(PYTEST)

# Without the real-browser tests (marked e2e by tests/suite_rules.py).
test-fast: postgres $(STAMP)
	$(PYTEST) -m "not e2e"

bench: $(STAMP)
	@for b in bench/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

lint: $(STAMP)
	$(BIN)/ruff check src tests bench

clean:
	rm -rf $(VENV) var build *.egg-info
