# Entry points. Each target is a one-liner over the `dwh` CLI, dbt or pytest.
# The virtual environment is (re)built only when pyproject.toml or requirements.lock change.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DWH    := $(BIN)/dwh
DATE   ?= 2022-10-05
DAG    ?= warehouse_postgres

.PHONY: venv demo test lint docs airflow bench up down status dag-test lock clean

venv: $(STAMP)

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --constraint requirements.lock --editable '.[dev]'
	$(BIN)/python -m pip check
	touch $(STAMP)

demo: venv ## start the local stack and build the warehouse on Postgres and ClickHouse
	$(DWH) demo

test: venv ## every test against real servers started for the run
	$(BIN)/python -m pytest

lint: venv ## ruff, sqlfluff (dbt templater) and the Vertica dialect on compiled SQL; also part of `make test`
	$(BIN)/python -m pytest tests/test_lint.py

bench: venv ## every benchmark in bench/ (each starts a private stack and prints ratios)
	for script in bench/bench_*.py; do $(BIN)/python $$script || exit 1; done

up: venv
	$(DWH) up

down: venv
	$(DWH) down

status: venv
	$(DWH) status

# Airflow (docs/airflow.md): `airflow` with this project's settings, AIRFLOW_HOME=.airflow
AIRFLOW := $(BIN)/python -m ingest.airflow_local
# the days to backfill: START=... END=... on the command line, else DWH_AIRFLOW_START_DATE and
# DWH_AIRFLOW_END_DATE from the environment (what the DAGs read), else the demo's first week
START   ?= $(or $(DWH_AIRFLOW_START_DATE),2022-10-01)
END     ?= $(or $(DWH_AIRFLOW_END_DATE),2022-10-07)
# the demo world made with the options the DAGs' ingest uses (DWH_SEED, DWH_SCALE, DWH_DIRT_RATE)
WORLD   := $(if $(DWH_SEED),--seed $(DWH_SEED)) $(if $(DWH_SCALE),--scale $(DWH_SCALE)) \
           $(if $(DWH_DIRT_RATE),--dirt-rate $(DWH_DIRT_RATE))

airflow: venv ## Airflow 3 on http://127.0.0.1:8080 (user admin, password printed once); DAGs backfill START..END when turned on
	$(DWH) up && $(DWH) generate --start $(START) --end $(END) $(WORLD) && DWH_AIRFLOW_START_DATE=$(START) DWH_AIRFLOW_END_DATE=$(END) $(AIRFLOW) standalone

dag-test: venv ## one DAG run with `airflow dags test`, no scheduler: make dag-test DAG=warehouse_postgres DATE=2022-10-05
	$(DWH) up && $(DWH) generate --start $(DATE) --end $(DATE) $(WORLD) && $(AIRFLOW) dags test $(DAG) $(DATE)

docs: venv ## dbt docs into target/docs (also shown in the Airflow UI) and served on http://127.0.0.1:8081
	$(DWH) up && eval "$$($(DWH) env)" && $(BIN)/dbt docs generate --profiles-dir . --target-path target/docs && $(BIN)/dbt docs serve --profiles-dir . --target-path target/docs --host 127.0.0.1 --port 8081 --no-browser

lock: ## re-resolve the direct dependencies and write requirements.lock
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet --upgrade pip
	.lock-venv/bin/python -m pip install --quiet '.[dev]'
	.lock-venv/bin/python -m pip check
	.lock-venv/bin/python -m pip freeze --exclude-editable | grep -v '^warehouse' > requirements.lock
	rm -rf .lock-venv

clean: ## remove generated dbt files (the stack's data stays; `dwh down` then rm -rf .dwh to drop it)
	rm -rf target logs
