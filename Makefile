# Tenantry: `make run` and `make test` set everything up on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=
XDIST ?= 2

.PHONY: setup run test lint format typecheck bench browsers clean

setup: $(VENV)/.installed static/vendor/.installed

$(VENV)/.installed: requirements.txt
	@echo "==> creating $(VENV) and installing requirements (first run takes a few minutes)"
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install --quiet --upgrade pip
	@$(PY) -m pip install --progress-bar off -r requirements.txt 2>&1 | grep -E "^(Collecting|Successfully|ERROR)" || true
	@$(PY) -c "import django, django_tenants, channels, celery" && touch $@

static/vendor/.installed: package.json scripts/vendor.sh
	@bash scripts/vendor.sh && touch $@

run: setup
	@$(PY) -m portal.up run

test: setup browsers
	@$(PY) -m portal.up exec -- bash scripts/pytest.sh -n $(XDIST) --dist=loadfile $(PYTEST_ARGS)

browsers:
	@bash scripts/ensure-chromium.sh

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: setup
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

typecheck: setup
	$(VENV)/bin/mypy portal tenants compliance vault deployments

bench: setup
	@$(PY) -m portal.up exec -- bash -c 'for b in benchmarks/*.py; do echo "==> $$b"; $(PY) $$b || exit 1; done'

clean:
	rm -rf staticfiles static/vendor .pytest_cache
