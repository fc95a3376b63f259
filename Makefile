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

lint: venv ## ruff on Python, sqlfluff on models and macros
	$(BIN)/ruff check ingest tests dags bench
	$(BIN)/ruff format --check ingest tests dags bench

up: venv
	$(DWH) up

down: venv
	$(DWH) down

status: venv
	$(DWH) status

lock: ## re-resolve the direct dependencies and write requirements.lock
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet --upgrade pip
	.lock-venv/bin/python -m pip install --quiet '.[dev]'
	.lock-venv/bin/python -m pip check
	.lock-venv/bin/python -m pip freeze --exclude-editable | grep -v '^warehouse' > requirements.lock
	rm -rf .lock-venv

clean: ## remove generated dbt files (the stack's data stays; `dwh down` then rm -rf .dwh to drop it)
	rm -rf target logs
