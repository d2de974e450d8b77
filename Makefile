# Guichet: two commands matter.
#   make run    install, prepare the database, load the demo, serve on http://127.0.0.1:$(PORT)/
#   make test   install the test tools, lint, type-check, check migrations, run every test
# The rest (lint, messages, clean) are shortcuts for developers. Works from a fresh clone: the
# only thing needed beforehand is Python 3.12 (pyenv reads .python-version).

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

PORT ?= 8000
# pytest processes (pytest-xdist): one per core. A test module stays in one process, so its
# module fixtures are built once. TEST_WORKERS=0 runs everything in this process.
TEST_WORKERS ?= auto
HOST ?= 127.0.0.1
VENV := .venv
BIN := $(VENV)/bin
GUICHET := $(BIN)/guichet
CHROMIUM := /usr/bin/chromium

# make run serves on the address it prints, so links in emails must point there too.
run: export GUICHET_SITE_URL ?= http://$(HOST):$(PORT)
run: export PORT := $(PORT)
run: export HOST := $(HOST)

.PHONY: help run test lint messages clean venv venv-test bench bench-full drills drill-peak drill-crash

help:
	@echo "make run       install, migrate, load the demo and serve on http://$(HOST):$(PORT)/"
	@echo "make test      lint, type-check, check migrations and run the whole test suite"
	@echo "make lint      ruff check, ruff format --check, mypy"
	@echo "make messages  update and compile the French translation"
	@echo "make clean     remove .venv, caches and var/ (the local database and files)"
	@echo "make bench     the quick benchmarks (under 5 min), one table; bench-full: full sizes (hours)"
	@echo "make drills    the peak and crash drills, quick variants; drill-peak, drill-crash: full"

venv:
	@bash scripts/venv.sh

venv-test:
	@bash scripts/venv.sh test

# 1. .venv with Guichet installed from constraints.txt (skipped when already up to date).
# 2. migrate: creates or updates the database (SQLite in var/ unless DATABASE_URL says otherwise).
# 3. collectstatic: the CSS and icons the server hands out (WhiteNoise, compressed, hashed names).
# 4. compilemessages: the French .mo files, when gettext's msgfmt is there.
# 5. demo: organisations, procedures, accounts and dossiers; idempotent; the accounts it prints
#    are kept in var/demo-accounts.txt and shown again once the server answers.
# 6. scripts/serve.sh: the task worker (emails) and granian; Ctrl-C stops both.
run: venv
	@echo "==> Applying database migrations"
	@$(GUICHET) migrate --no-input
	@echo "==> Collecting static files"
	@$(GUICHET) collectstatic --no-input --verbosity 0
	@if command -v msgfmt >/dev/null && [ -d src/guichet/locale ]; then \
		echo "==> Compiling translations"; \
		cd src/guichet && ../../$(GUICHET) compilemessages -l fr --verbosity 0; \
	fi
	@echo "==> Loading the demo data"
	@mkdir -p var
	@$(GUICHET) demo --no-color | tee var/demo-accounts.txt
	@bash scripts/serve.sh

# Browser tests drive Debian's chromium (installed by .ci/run as root); without it they skip and
# say why, so make test never needs root.
test: venv-test
	@echo "==> ruff check"
	@$(BIN)/ruff check src tests bench
	@echo "==> ruff format --check"
	@$(BIN)/ruff format --check src tests bench
	@echo "==> mypy (strict)"
	@$(BIN)/mypy src bench
	@echo "==> Migrations match the models"
	@$(GUICHET) makemigrations --check --dry-run
	@if [ ! -x $(CHROMIUM) ]; then \
		echo "==> NOTE: $(CHROMIUM) is missing: browser tests will be skipped" \
			"(apt-get install chromium, or run .ci/run as root)."; \
	fi
	@echo "==> pytest (database: $${DATABASE_URL:-SQLite}, $(TEST_WORKERS) processes)"
	@$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile

lint: venv-test
	@$(BIN)/ruff check src tests bench
	@$(BIN)/ruff format --check src tests bench
	@$(BIN)/mypy src bench

# makemessages walks the current folder, so it runs from src/guichet (not the repository, whose
# .venv holds Django's own catalogues). Needs gettext (apt-get install gettext).
messages: venv
	@mkdir -p src/guichet/locale
	@cd src/guichet && ../../$(GUICHET) makemessages -l fr
	@cd src/guichet && ../../$(GUICHET) compilemessages -l fr

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache .hypothesis test-results
	find src tests -name __pycache__ -type d -prune -exec rm -rf {} +
	find src -name '*.egg-info' -type d -prune -exec rm -rf {} +

# Benchmarks and drills (issue 7, docs/performance.md). They start their own throw-away instance
# (and PostgreSQL cluster when the binaries are there) in temporary folders, on 127.0.0.1 only.
bench: venv-test
	@$(BIN)/python bench/run_all.py

bench-full: venv-test
	@$(BIN)/python bench/run_all.py --full

drills: venv-test
	@$(BIN)/python bench/drills.py peak --quick
	@$(BIN)/python bench/drills.py crash --quick

drill-peak: venv-test
	@$(BIN)/python bench/drills.py peak

drill-crash: venv-test
	@$(BIN)/python bench/drills.py crash
