# Two commands for a newcomer: `make run` and `make test`. Everything else is optional.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
KB := $(BIN)/kb
STAMP := $(VENV)/.installed

.PHONY: run test test-fast install validate site index db demo serve bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,bench]'
	touch $(STAMP)

install: $(STAMP)

validate: $(STAMP)
	$(KB) validate

site: $(STAMP)
	$(KB) build-site --search-url /search

run: $(STAMP)
	$(KB) setup
	$(KB) serve --host 127.0.0.1 --port 8000

test: $(STAMP)
	$(BIN)/python -m pytest -n auto -q

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow and not browser"

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

clean:
	rm -rf var build *.egg-info .pytest_cache
