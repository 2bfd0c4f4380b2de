# faceweb developer entry points. Every target works on a fresh clone: it creates
# .venv with python3.11 and installs the pinned set (constraints.txt) when needed.
#
#   make run       embedded PostgreSQL+pgvector and Redis, migrate, demo accounts,
#                  web on http://127.0.0.1:8000 + Celery worker + beat (Ctrl-C stops all)
#   make test      ruff, compose-file validation (when docker-compose is installed),
#                  `manage.py check --deploy` with production-like settings, pytest
#   make test-quick  ruff and the tests not marked slow or browser (the developer loop)
#   make services  start (or reuse) only the embedded PostgreSQL and Redis
#   make stop      stop the embedded services (development and test ones)
#   make lint      ruff only
#   make bench     embedder speed benchmark (see README, "Benchmarks")

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
# Written after a successful install; newer than both inputs means "nothing to do".
STAMP := $(VENV)/.installed
# Seconds one test may take before pytest-timeout fails it (a hung test must not eat CI).
TEST_TIMEOUT ?= 900
PYTEST_ARGS ?=

.PHONY: help install run services stop test test-services test-quick lint compose-check deploy-check bench constraints clean

help:
	@sed -n 's/^#   make/make/p' $(firstword $(MAKEFILE_LIST))

$(PY):
	@$(PYTHON) -c 'import ensurepip' 2>/dev/null || { \
	  echo "$(PYTHON) cannot create a virtualenv: install python3.11 and python3.11-venv" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml constraints.txt | $(PY)
	$(PY) -m pip install --disable-pip-version-check -q -c constraints.txt -e '.[test]'
	@touch $@

install: $(STAMP)

run: export DEBUG := 1
run: install
	$(PY) -m faceweb.embedded start
	FACEWEB_EMBEDDED_ROLE=owner $(PY) manage.py migrate --noinput  # as the owner; the app role is insert-only on the log
	$(PY) manage.py seed_demo
	$(PY) manage.py collectstatic --noinput -v 0
	$(PY) manage.py devserver

services: install
	$(PY) -m faceweb.embedded start

stop: install
	$(PY) -m faceweb.embedded stop
	FACEWEB_DATA_DIR=.data/test $(PY) -m faceweb.embedded stop

lint: install
	$(VENV)/bin/ruff check .

# The compose file requires its secrets and audit keys; placeholders let the
# syntax check run without real secrets (nothing is started).
compose-check:
	@if command -v docker-compose >/dev/null; then \
	  SECRET_KEY=$${SECRET_KEY:-config-check} POSTGRES_PASSWORD=$${POSTGRES_PASSWORD:-config-check} \
	  FACEWEB_OWNER_PASSWORD=$${FACEWEB_OWNER_PASSWORD:-config-check} \
	  FACEWEB_APP_PASSWORD=$${FACEWEB_APP_PASSWORD:-config-check} \
	  AUDIT_HMAC_KEY=$${AUDIT_HMAC_KEY:-config-check} AUDIT_SIGNING_KEY=$${AUDIT_SIGNING_KEY:-config-check} \
	    docker-compose -f docker/compose.yaml config -q && echo "docker/compose.yaml: valid"; \
	else echo "docker-compose not installed: compose validation skipped"; fi

# Django's production checklist, with settings as production has them (TLS on, real service
# URLs; nothing is connected to). Any warning fails it.
deploy-check: install
	DEBUG=0 HTTPS=1 FACEWEB_EMBEDDED=0 SECRET_KEY="$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(50))')" \
	  AUDIT_HMAC_KEY="$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(48))')" \
	  AUDIT_SIGNING_KEY="$$($(PY) -c 'import base64, secrets; print(base64.b64encode(secrets.token_bytes(32)).decode())')" \
	  DATABASE_URL=postgresql://faceweb@db.invalid:5432/faceweb REDIS_URL=redis://redis.invalid:6379/0 \
	  ALLOWED_HOSTS=faceweb.example.org TRUSTED_PROXIES=10.0.0.0/8 \
	  $(PY) manage.py check --deploy --fail-level WARNING

# pytest exits 5 when it collected nothing: that is a failure too (any non-zero fails make).
# The embedded test services are started (or reused) first, so that the Redis port they record
# is the one the test settings read (pytest refuses to run against services that moved).
test-services: install
	FACEWEB_DATA_DIR=$${FACEWEB_DATA_DIR:-.data/test} $(PY) -m faceweb.embedded start >/dev/null

test: lint compose-check deploy-check test-services
	$(PY) -m pytest --timeout=$(TEST_TIMEOUT) $(PYTEST_ARGS)

# The quick loop while developing: no end-to-end process tests (slow), no Chromium (browser).
test-quick: lint test-services
	$(PY) -m pytest --timeout=$(TEST_TIMEOUT) -m "not slow and not browser" $(PYTEST_ARGS)

BENCH_ARGS ?=
bench: install
	$(PY) -m bench.embed $(BENCH_ARGS)

# Re-pin every package after editing pyproject.toml (then commit constraints.txt).
constraints: $(PY)
	$(PY) -m pip install --disable-pip-version-check -q -e '.[test]'
	{ sed -n '1,2p' constraints.txt; $(PY) -m pip freeze --exclude-editable | grep -vi '^faceweb'; } > constraints.txt.new
	mv constraints.txt.new constraints.txt
	@touch $(STAMP)

clean:
	rm -rf staticfiles .pytest_cache .ruff_cache
