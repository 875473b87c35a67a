# The shop appliance. `make run` and `make test` set up everything they need themselves.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
DEPS_STAMP := $(VENV)/.deps-$(shell cat requirements.lock pyproject.toml 2>/dev/null | sha256sum | cut -c1-16)
export REFLEX_USE_NPM := 1
export REFLEX_TELEMETRY_ENABLED := false
export PYTHONDONTWRITEBYTECODE := 1
# Node.js >= 22 from the npm registry under .tools/ when the system one is older.
NODE_BIN = $(shell scripts/ensure-node.sh)

.PHONY: help install frontend run dev migrate seed test test-fast test-sqlite test-postgres test-sandbox lint format bench clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(DEPS_STAMP): requirements.lock pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.lock
	@rm -f $(VENV)/.deps-* && touch $@

install: $(DEPS_STAMP) ## Python deps in .venv (skipped when already installed)

frontend: install ## production build of the storefront (skipped when up to date)
	PATH="$(NODE_BIN):$$PATH" scripts/build-frontend.sh

migrate: install ## apply database migrations
	$(PY) -m shop migrate

seed: migrate ## add the demo catalog where it is missing
	$(PY) -m shop seed

run: frontend ## install, build, migrate, seed, start the Stripe sandbox if needed, serve on :8000
	$(PY) -m shop run

dev: install ## hot-reloading development server
	PATH="$(NODE_BIN):$$PATH" $(PY) -m shop run --dev

test: frontend ## the whole suite: SQLite (with browser and sandbox tests) and PostgreSQL + Redis, side by side
	@echo "running the SQLite and the PostgreSQL suites side by side; each one's output follows when it ends"
	$(MAKE) --no-print-directory -j2 --output-sync=target test-sqlite test-postgres

test-sqlite: install
	PATH="$(NODE_BIN):$$PATH" $(PY) -m pytest -p no:cacheprovider

test-postgres: install
	SHOP_TEST_BACKEND=postgres $(PY) -m pytest -p no:cacheprovider -m "not browser" --ignore=tests/sandbox

test-fast: install ## everyday loop: no browser, SQLite only, three pytest workers
	$(PY) -m pytest -p no:cacheprovider -q -m "not browser and not slow" -x -n 3 --dist worksteal

test-sandbox: install ## the Stripe sandbox's own suite
	$(PY) -m pytest -p no:cacheprovider -q tests/sandbox

lint: install ## ruff (lint + format check) and mypy
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy shop stripe_sandbox

format: install ## apply ruff fixes and formatting
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

bench: frontend ## benchmarks, each a ratio against a baseline measured in the same run
	@command -v wrk >/dev/null || { echo "installing wrk (load generator)"; apt-get install -y -qq wrk >/dev/null; }
	$(PY) -m bench.api_overhead
	$(PY) -m bench.downloads
	PATH="$(NODE_BIN):$$PATH" $(PY) -m bench.storefront_weight
	$(PY) -m bench.webhooks
	@if [ -n "$$BENCH_POSTGRES_URL" ]; then $(PY) -m bench.webhooks --database-url "$$BENCH_POSTGRES_URL"; else echo "webhooks on PostgreSQL: set BENCH_POSTGRES_URL (e.g. postgresql://postgres@127.0.0.1:5432/postgres)"; fi

clean: ## remove build output (keeps data/ and .venv)
	rm -rf .web test-output .pytest_cache .mypy_cache .ruff_cache
