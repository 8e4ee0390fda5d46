# trialsite — the two commands: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
DB     ?= trialsite.db

.PHONY: install run test lint typecheck pytest bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## make run: set up, load the bundled sample into ./trialsite.db, match the demo patient
run: install
	$(BIN)/trialsite --db $(DB) ingest file sample/ctg-studies.json.zip
	$(BIN)/trialsite --db $(DB) ingest page sample/lupus-nephritis-trial-page.txt
	$(BIN)/trialsite --db $(DB) stats
	$(BIN)/trialsite --db $(DB) match --patient sample/patient.json

## make test: set up and run the whole suite (lint, types, tests on SQLite and PostgreSQL)
test: install lint typecheck pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

pytest: install
	$(BIN)/pytest

bench: install
	$(BIN)/python -m bench.ingest

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
