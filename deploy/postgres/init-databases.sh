#!/usr/bin/env bash
# First start of the postgres container: the Airflow metadata database and the warehouse, each
# with its own role. Passwords come from the container environment (.env), never from this file.
set -euo pipefail
psql -v ON_ERROR_STOP=1 --username postgres \
  -v airflow_pw="$AIRFLOW_DB_PASSWORD" -v warehouse_pw="$WAREHOUSE_DB_PASSWORD" <<'SQL'
CREATE ROLE airflow LOGIN PASSWORD :'airflow_pw';
CREATE DATABASE airflow OWNER airflow;
CREATE ROLE mlmonitor LOGIN PASSWORD :'warehouse_pw';
CREATE DATABASE warehouse OWNER mlmonitor;
SQL
