# Two commands on a fresh machine: `make demo` and `make test`. Both build .venv if it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV := $(BIN)/uv
STAMP := $(VENV)/.installed
export NO_MKDOCS_2_WARNING := 1

# `make test` runs on the newest Airflow (3.3). The older lines the provider supports get a venv each,
# .venv-airflow-3.1 and .venv-airflow-3.2, with the newest release of that line; they share .venv's uv
# and its cache, so a second venv only links files already downloaded.
OLD_AIRFLOWS := 3.1 3.2
OLD_AIRFLOW_TESTS := $(addprefix test-airflow-,$(OLD_AIRFLOWS))
# Airflow 3.2.2's dag.test() breaks with today's newest fastapi (0.165: a pydantic discriminator error)
# and svcs (26: its in-process execution API gets requests before its lifespan has set the registry).
AIRFLOW_PINS_3.2 := 'fastapi<0.137' 'svcs<26' 'cryptography<51'
# Airflow 3.1 and 3.2 set an attribute on cryptography's MultiFernet, which cryptography 51 made a native
# object without one ("'MultiFernet' object has no attribute 'is_encrypted'": no connection can be read).
AIRFLOW_PINS_3.1 := 'cryptography<51'

.PHONY: demo test lint typecheck unit docs docs-serve bench dist dist-check test-airflows $(OLD_AIRFLOW_TESTS) \
	test-min-airflow clean redis-server postgresql test-postgres bench-celery

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python -e '.[test,bench,docs,release]'
	touch $(STAMP)

.venv-airflow-%/.installed: pyproject.toml | $(STAMP)
	test -x .venv-airflow-$*/bin/python || $(UV) venv --quiet --python $(BIN)/python .venv-airflow-$*
	$(UV) pip install --quiet --python .venv-airflow-$*/bin/python 'apache-airflow~=$*.0' $(AIRFLOW_PINS_$*) -e '.[test,bench]'
	touch $@

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

# The key-wide budget tests start a real redis-server on 127.0.0.1; CI (root, fresh Debian) installs it here.
redis-server:
	@command -v redis-server >/dev/null || (apt-get update && apt-get install -y redis-server)

# Two pytest workers (pytest-xdist; each its own Airflow home, SQLite DB, host budget directory and Redis):
# most of the suite waits on sockets and fake or real clocks, so two share the 2 cores well (2 min 16 s for
# 1,759 tests, load 1-3; the slowest are the dag.test() runs, the stated-budget runs at a real server's
# limit, and the key-budget tests' task processes, forked from a forkserver that imported the hook once). The
# metadata-DB-bound tests and the real-scheduler module run in test-postgres (below), not here; the older
# Airflow lines run the former on SQLite (test-airflows).
unit: $(STAMP) redis-server
	$(BIN)/pytest -n 2 $(PYTEST_ARGS) $(addprefix --ignore=,$(POSTGRES_TESTS))

# Production deployments keep Airflow's metadata DB on PostgreSQL: the tests whose outcome depends on the
# metadata DB (the incremental cleanup's month and concurrency tests, the example DAG runs) run on a
# throwaway PostgreSQL server (one per worker) (tests/postgres_server.py: initdb + pg_ctl on a free 127.0.0.1 port),
# and so does, only there, the one real-scheduler module (one real Airflow for all its scenarios, marked
# `standalone`). Debian's postgresql package keeps initdb off the PATH, in /usr/lib/postgresql/<version>/bin.
REAL_SCHEDULER_TESTS := tests/integration/test_real_scheduler.py
POSTGRES_TESTS := tests/integration/test_metadata_db.py tests/integration/test_incremental_cleanup.py \
	tests/integration/test_example_dags.py $(REAL_SCHEDULER_TESTS)
postgresql:
	@command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 \
		|| (apt-get update && apt-get install -y postgresql)

# About 2 min measured (load 2-3; 2 min 48 s at load 4): one worker has the incremental cleanup's runs, the other the real-scheduler
# module (its Airflow's start is 45 s of it) and the example DAGs.
test-postgres: $(STAMP) postgresql
	QUO_TEST_DB=postgres $(BIN)/pytest -q -n 2 --dist loadfile $(PYTEST_ARGS) $(POSTGRES_TESTS)

# The docs site (mkdocs.yml) into the git-ignored site/; any warning (a broken link or anchor, a
# docstring mkdocstrings cannot read) fails the build, and so does a link that would not open from the
# file system (scripts/check_site_links.py).
docs: $(STAMP)
	$(BIN)/mkdocs build --strict --quiet --site-dir site
	$(BIN)/python scripts/check_site_links.py site

# The docs site at http://127.0.0.1:8000, rebuilt on every change (site/ also opens without it).
docs-serve: $(STAMP)
	$(BIN)/mkdocs serve --dev-addr 127.0.0.1:8000

test: lint typecheck unit test-postgres docs

# The older Airflow lines (newest 3.1 and 3.2 releases) run the tests that touch Airflow's API, which is what
# differs between them: dag.test() and the metadata DB (the example DAGs, the incremental cleanup's runs), the
# operators through BaseOperator (templating, context, XCom, on_kill, the retry policy and task state store
# compat, which skip themselves below 3.3), connections and the secret masker (security, the hook's request
# and Redis-URL masking), Airflow's task retry, the provider info and the connection form, the demo's logs.
# Everything else imports nothing that changes between Airflow versions and runs once, on the newest, in
# `make test`: the hook's HTTP, pool and budget (test_bulk_concurrency, test_stop_promptly call
# operator.execute with a stub ti: the hook's concurrency and stop, not Airflow's), the key's budget and its
# stores, the simulator, ids, errors, the failure table, the operators' pure parts (checkpoint, params,
# progress, staleness, summary, watermark), the real-scheduler module and the rate-bound tests.
# Two workers each (each its own Airflow home and SQLite DB), one line after the other. Measured on 2 cores
# shared with other jobs (load 2-3): 3.1 in 78-92 s, 3.2 in 93-96 s (make test-airflows: 3 min 16 s); before, one worker over all of tests/integration
# and tests/unit/operators took 11 min 50 s for 3.1 (load 5-9; 7 min 35 s and 10 min 31 s in the last CI).
# Most of that was Airflow 3.1/3.2 building a new in-process execution API (a FastAPI app with Cadwyn's
# versioned schemas, seconds each) for every task instance dag.test() ran: tests/conftest.py builds it once
# per process, as Airflow 3.3 does. With that, two workers pass (the "conn_id quo_default isn't defined"
# that once made this one worker did not recur in three two-worker runs of 3.1, one over the former wider set).
# PYTEST_ARGS (here and in unit, test-postgres) adds pytest options, e.g. PYTEST_ARGS=--durations=30.
AIRFLOW_API_TESTS := tests/integration/test_example_dags.py tests/integration/test_incremental_cleanup.py \
	tests/integration/test_metadata_db.py tests/integration/test_retry_policy_dag.py \
	tests/unit/operators/test_operator_list_stale.py tests/unit/operators/test_operator_list_stale_window.py \
	tests/unit/operators/test_operator_mark_inputs.py tests/unit/operators/test_operator_mark_options.py \
	tests/unit/operators/test_operator_mark_outcomes.py tests/unit/operators/test_resume_decisions.py \
	tests/unit/test_provider_info.py tests/unit/test_retry_policy.py tests/unit/hooks/test_hook_requests.py \
	tests/reliability/test_airflow_task_retry.py tests/reliability/test_airflow_task_resume.py tests/security \
	tests/test_demo_logs.py
$(OLD_AIRFLOW_TESTS): test-airflow-%: .venv-airflow-%/.installed redis-server
	.venv-airflow-$*/bin/python -c 'import airflow; print("Airflow", airflow.__version__)'
	.venv-airflow-$*/bin/pytest -q -x -n 2 $(PYTEST_ARGS) -m "not standalone and not airflow_independent" $(AIRFLOW_API_TESTS)

test-airflows: $(OLD_AIRFLOW_TESTS)

test-min-airflow: test-airflow-3.1

demo: $(STAMP)
	$(BIN)/python scripts/demo.py

bench: $(STAMP) redis-server
	$(BIN)/python -m benchmarks

# Opt-in, not part of `make bench`: the key's budget across two hosts under a real CeleryExecutor
# (benchmarks/celery_hosts.py: PostgreSQL metadata DB, Redis broker, two `airflow celery worker`s with
# their own host budget). Its own venv, .venv-celery, adds the Celery provider to the same Airflow.
CELERY_VENV := .venv-celery
# celery<5.7: celery 5.7 removed celery.backends.database.retry, which the Celery provider (3.26) imports.
$(CELERY_VENV)/.installed: pyproject.toml | $(STAMP)
	test -x $(CELERY_VENV)/bin/python || $(UV) venv --quiet --python $(BIN)/python $(CELERY_VENV)
	$(UV) pip install --quiet --python $(CELERY_VENV)/bin/python "apache-airflow==$$($(BIN)/python -c \
		'from importlib.metadata import version; print(version("apache-airflow"))')" \
		apache-airflow-providers-celery 'celery<5.7' -e '.[test,bench]'
	touch $@

bench-celery: $(CELERY_VENV)/.installed redis-server postgresql
	$(CELERY_VENV)/bin/python -m benchmarks --only celery_hosts --output benchmarks/results/celery_hosts.json

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
	rm -rf $(VENV) .venv-airflow-* $(CELERY_VENV) site dist .pytest_cache .mypy_cache .ruff_cache
