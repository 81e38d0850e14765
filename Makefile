# citytally: the same commands run on a laptop and in CI (.ci/run calls `make test`).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup demo test lint typecheck bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[signals,test]'
	touch $(STAMP)

setup: $(STAMP)
	bash scripts/setup-system.sh
	bash scripts/fetch-vtest.sh
	$(BIN)/python -c 'from citytally.hub.dashboard import build_frontend; build_frontend()'  # npm install + vite build, if stale

## The README's first command: a real video through the whole pipeline into the dashboard.
demo: setup
	$(BIN)/citytally demo

## The README's second command: every test, against the real services.
test: setup
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
