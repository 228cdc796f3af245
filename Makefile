# Two commands on a fresh machine: `make demo` and `make test`. Both build .venv if it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# The oldest Airflow the provider supports, in a venv of its own (`make test-min-airflow`).
MIN_VENV := .venv-airflow-3.1
MIN_AIRFLOW := apache-airflow>=3.1,<3.2

.PHONY: demo test lint typecheck unit bench test-min-airflow dist dist-check clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python -e '.[test,bench,docs,release]'
	touch $(STAMP)

$(MIN_VENV)/.installed: pyproject.toml
	test -x $(MIN_VENV)/bin/python || $(PYTHON) -m venv $(MIN_VENV)
	$(MIN_VENV)/bin/python -m pip install --quiet --disable-pip-version-check uv
	$(MIN_VENV)/bin/uv pip install --quiet --compile-bytecode --python $(MIN_VENV)/bin/python '$(MIN_AIRFLOW)' -e '.[test]'
	touch $@

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest

test: lint typecheck unit

# The suite (less the real-scheduler test) on Airflow 3.1, to keep the "3.1 and later" promise honest.
test-min-airflow: $(MIN_VENV)/.installed
	$(MIN_VENV)/bin/pytest -q -m "not standalone"

demo: $(STAMP)
	$(BIN)/python scripts/demo.py

bench: $(STAMP)
	$(BIN)/python -m benchmarks

# Release artefacts: sdist and wheel in dist/, checked (metadata, wheel contents), then the wheel alone
# installed into a fresh venv outside the source tree (scripts/check_wheel.py).
dist: $(STAMP)
	rm -rf dist
	$(BIN)/python -m build --installer uv --outdir dist .
	$(BIN)/twine check --strict dist/*
	$(BIN)/check-wheel-contents dist/*.whl

dist-check: dist
	$(BIN)/python scripts/check_wheel.py dist/*.whl

clean:
	rm -rf $(VENV) $(MIN_VENV) .pytest_cache .mypy_cache .ruff_cache
