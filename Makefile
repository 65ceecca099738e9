# Two commands for a newcomer: `make run` and `make test`. `make help` lists the rest.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
KB := $(BIN)/kb
STAMP := $(VENV)/.installed
# Every benchmark script in bench/ (results.py is their shared helper, not a benchmark).
BENCHES := $(filter-out bench/results.py,$(wildcard bench/*.py))

.PHONY: help run test test-fast lint format install validate site index db demo serve bench clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,bench,dev]'
	touch $(STAMP)

install: $(STAMP) ## Create .venv and install the project with its test, bench and dev tools

run: $(STAMP) ## Validate, build, seed the demo and serve on http://127.0.0.1:8000
	$(KB) setup
	$(KB) serve --host 127.0.0.1 --port 8000

test: $(STAMP) ## The whole test suite (PostgreSQL, Chromium and Redis tests run when CI provides them)
	$(BIN)/python -m pytest -n auto -q $(PYTEST_ARGS)

test-fast: $(STAMP) ## Tests without the browser and the slow ones
	$(BIN)/python -m pytest -n auto -q -m "not slow and not browser"

lint: $(STAMP) ## ruff (lint and format check), mypy and the import-layer contracts
	$(BIN)/ruff check kb_app tests bench conftest.py
	$(BIN)/ruff format --check kb_app tests bench conftest.py
	$(BIN)/mypy
	$(BIN)/lint-imports

format: $(STAMP) ## Format the code and apply safe lint fixes
	$(BIN)/ruff format kb_app tests bench conftest.py
	$(BIN)/ruff check --fix kb_app tests bench conftest.py

validate: $(STAMP) ## Check every SOP and quiz bank
	$(KB) validate

db: $(STAMP) ## Create or upgrade the database schema
	$(KB) db upgrade

demo: db ## Load the demo roster and logins
	$(KB) demo seed

index: $(STAMP) ## Build the search index
	$(KB) index

site: $(STAMP) ## Build both SOP sites
	$(KB) build-site --search-url /search

serve: $(STAMP) ## Serve what is already built, without rebuilding
	$(KB) serve --host 127.0.0.1 --port 8000

bench: $(STAMP) ## Run every benchmark in bench/ (writes bench/RESULTS.md; minutes, not seconds)
	@for script in $(BENCHES); do echo "== $$script"; $(BIN)/python $$script || exit 1; done

clean: ## Remove built and generated files (keeps .venv)
	rm -rf var build *.egg-info .pytest_cache .hypothesis .mypy_cache .ruff_cache
