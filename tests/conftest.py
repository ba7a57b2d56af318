"""Test-wide set-up: an isolated Airflow metadata DB and GE project per session, PostgreSQL scratch DBs.

Environment is set before anything imports Airflow, so no test touches the repo's var/airflow.db.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_SESSION = Path(tempfile.mkdtemp(prefix="mlmonitor-tests-"))
os.environ.update(
    {
        "AIRFLOW_HOME": str(ROOT),
        "AIRFLOW_CONFIG": str(ROOT / "airflow.cfg"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_SESSION}/airflow.db",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(_SESSION / "logs"),
        "AIRFLOW__LOGGING__DAG_PROCESSOR_CHILD_PROCESS_LOG_DIRECTORY": str(_SESSION / "logs" / "dag_processor"),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(_SESSION / "passwords.json"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    }
)
os.environ.pop("AIRFLOW_CONN_MLMONITOR_WAREHOUSE", None)
os.environ.pop("MLMONITOR_WAREHOUSE_URL", None)
PG_ADMIN_URL = os.environ.get("MLMONITOR_PG_ADMIN_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """A migrated Airflow metadata DB for this test session."""
    done = subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    return _SESSION


@pytest.fixture
def gx_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh GE project (suites, baselines, Data Docs, alerts file) for one test."""
    root = tmp_path / "expectations"
    monkeypatch.setenv("MLMONITOR_GX_ROOT", str(root))
    return root


def _pg_required() -> bool:
    return bool(os.environ.get("MLMONITOR_REQUIRE_PG") or os.environ.get("CI"))


@pytest.fixture
def postgres_database() -> Iterator[dict[str, str]]:
    """A scratch PostgreSQL database (created, then dropped); skipped only outside CI when PG is down."""
    import sqlalchemy as sa

    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql("select 1")
    except sa.exc.OperationalError as exc:
        if _pg_required():
            pytest.fail(f"PostgreSQL is required here but unreachable at {PG_ADMIN_URL}: {exc}")
        pytest.skip(f"PostgreSQL unreachable at {PG_ADMIN_URL}")
    name = f"mlmonitor_test_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = admin.url.set(database=name)
    try:
        yield {
            "name": name,
            "url": url.render_as_string(hide_password=False),
            "conn": json.dumps(
                {
                    "conn_type": "postgres",
                    "host": url.host or "127.0.0.1",
                    "port": url.port or 5432,
                    "login": url.username or "postgres",
                    "password": url.password or "",
                    "schema": name,
                }
            ),
        }
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture
def sqlite_database(tmp_path: Path) -> dict[str, str]:
    path = tmp_path / "warehouse.db"
    return {
        "name": str(path),
        "url": f"sqlite:///{path}",
        "conn": json.dumps({"conn_type": "sqlite", "host": str(path)}),
    }
