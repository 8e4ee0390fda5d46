# trialsite — the two commands: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
DB     ?= trialsite.db

.PHONY: install load run serve test lint typecheck pytest browser bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## make run: set up, load the bundled sample into ./trialsite.db, match the demo patient
run: install load
	$(BIN)/trialsite --db $(DB) stats
	$(BIN)/trialsite --db $(DB) match --patient sample/patient.json

load: install
	$(BIN)/trialsite --db $(DB) ingest file sample/ctg-studies.json.zip
	$(BIN)/trialsite --db $(DB) ingest page sample/lupus-nephritis-trial-page.txt

## make serve: the web pages and the API on ./trialsite.db (the sample loaded first if it is missing)
serve: install
	@test -e $(DB) || $(MAKE) --no-print-directory load
	$(BIN)/trialsite --db $(DB) serve

## make test: set up and run the whole suite (lint, types, tests on SQLite and PostgreSQL, browser)
test: install browser lint typecheck pytest

## the browser tests drive Debian's Chromium (Playwright's own download is not used); the
## reverse-proxy test runs Debian's nginx in front of a live trialsite
browser:
	@test -x /usr/bin/chromium || { echo "installing Debian's chromium for the browser tests"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	  || echo "could not install chromium: the browser tests will be skipped with the reason"; }
	@{ command -v nginx >/dev/null || test -x /usr/sbin/nginx; } || { echo "installing Debian's nginx-light for the reverse-proxy test"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light openssl >/dev/null) \
	  || echo "could not install nginx: the reverse-proxy test will be skipped with the reason"; }

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

## the suite runs on two workers (pytest-xdist): about 5 minutes instead of 8 on two cores
pytest: install
	$(BIN)/pytest -n 2

bench: install
	$(BIN)/python -m bench.ingest

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
