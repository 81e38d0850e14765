# citytally: the same commands run on a laptop and in CI (.ci/run calls `make test`).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup setup-test demo test lint typecheck bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[signals,test]'
	touch $(STAMP)

## What both commands need; no root (scripts/setup-system.sh demo only checks Python, Node.js and npm).
setup: $(STAMP)
	PYTHON=$(PYTHON) bash scripts/setup-system.sh demo
	bash scripts/fetch-vtest.sh
	$(BIN)/python -c 'from citytally.hub.dashboard.server import build_frontend; build_frontend()'  # npm install + vite build, if stale

## The README's first command: a real video through the whole pipeline into the dashboard.
## DEMO_ARGS passes options, e.g. `make demo DEMO_ARGS="--serve-for 5"` to stop by itself.
DEMO_ARGS ?=
demo: setup
	$(BIN)/citytally demo $(DEMO_ARGS)

## Debian packages only the tests use (Chromium, GStreamer's RTSP server): installs them if missing (root).
setup-test: setup
	bash scripts/setup-system.sh test

## The README's second command: every test, against the real services.
test: setup-test
	bash scripts/ensure-services.sh
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/mypy
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests bench scripts

typecheck: $(STAMP)
	$(BIN)/mypy

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .mypy_cache .ruff_cache
