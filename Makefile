# mlmonitor: `make demo` and `make test` do all set-up on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := $(CURDIR)/.venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

export AIRFLOW_HOME := $(CURDIR)
export AIRFLOW_CONFIG := $(CURDIR)/airflow.cfg
export PATH := $(BIN):$(PATH)
DEMO_DB := $(CURDIR)/var/warehouse.db
# The demo warehouse is an Airflow Connection given in the environment (no secrets in files).
export AIRFLOW_CONN_MLMONITOR_WAREHOUSE ?= {"conn_type": "sqlite", "host": "$(DEMO_DB)"}

.PHONY: install airflow-db demo-data demo ui browser test test-unit test-postgres test-mariadb test-browser lint typecheck bench clean

install: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# the lock is complete, so --no-deps installs exactly it: apache-airflow-providers-mysql's drivers for
	# its other clients (mysqlclient needs a C build, mysql-connector-python, aiomysql) stay out; the
	# warehouse connection uses its `client: pymysql` (README: "Pointing the warehouse at ...")
	$(BIN)/pip install -q --disable-pip-version-check --no-deps -r requirements.lock
	$(BIN)/pip install -q --disable-pip-version-check --no-deps -e .
	touch $@

airflow-db: install
	mkdir -p var
	$(BIN)/airflow db migrate > var/airflow-db-migrate.log 2>&1 || (tail -20 var/airflow-db-migrate.log; exit 1)

demo-data: install
	mkdir -p var
	$(BIN)/mlmonitor demo-data --warehouse-url sqlite:///$(DEMO_DB)

demo: airflow-db demo-data
	$(BIN)/python -m mlmonitor_airflow.demo_runner

ui: airflow-db
	@echo "Airflow UI on http://127.0.0.1:8080 (user admin; password in var/simple_auth_manager_passwords.json)"
	@echo "ML Monitoring dashboard: http://127.0.0.1:8080/mlmonitor/ (also Browse > ML Monitoring)"
	$(BIN)/airflow standalone

browser:
	bash .ci/ensure-chromium

test: install
	$(BIN)/pytest -q tests --ignore=tests/benchmarks

test-unit: install
	$(BIN)/pytest -q tests/unit tests/dags

test-postgres: install
	MLMONITOR_REQUIRE_PG=1 $(BIN)/pytest -q -m postgres tests

test-mariadb: install
	MLMONITOR_REQUIRE_MARIADB=1 $(BIN)/pytest -q -m mariadb tests

test-browser: install browser
	MLMONITOR_REQUIRE_BROWSER=1 $(BIN)/pytest -q tests/browser

lint: install
	$(BIN)/ruff check include dags plugins tests tools
	$(BIN)/ruff format --check include dags plugins tests tools

typecheck: install
	$(BIN)/mypy

bench: install
	$(BIN)/python -m tests.benchmarks.run

clean:
	rm -rf var expectations/gx expectations/baselines .pytest_cache
