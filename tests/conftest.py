"""Test-wide set-up: an isolated Airflow metadata DB and GE project per session, PostgreSQL and MariaDB
scratch DBs.

Environment is set before anything imports Airflow, so no test touches the repo's var/airflow.db.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.warehouses import WAREHOUSES

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
MARIADB_ADMIN_URL = os.environ.get("MLMONITOR_MARIADB_ADMIN_URL", "mysql+pymysql://root@127.0.0.1:3306/test")


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


@pytest.fixture
def project(gx_root: Path) -> object:
    """The GxProject at gx_root."""
    from mlmonitor.project import GxProject

    return GxProject(gx_root)


def _required(server: str) -> bool:
    return bool(os.environ.get(f"MLMONITOR_REQUIRE_{server}") or os.environ.get("CI"))


@dataclass(frozen=True)
class _Server:
    """How to make a scratch database on one database server and describe it as an Airflow connection."""

    title: str  # for messages
    variable: str  # MLMONITOR_REQUIRE_<variable>=1 makes its tests fail instead of skip when it is down
    admin_url: str
    conn: dict[str, Any]  # the Airflow connection's fixed fields (type, default port and login, extras)
    create: str  # CREATE DATABASE statement, {name} filled in
    drop: Callable[[Any, str], None]  # drops the database, ending the sessions a test left open

    def scratch(self) -> Iterator[dict[str, str]]:
        """A scratch database (created, then dropped); skipped only outside CI when the server is down."""
        import sqlalchemy as sa

        admin = sa.create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.exec_driver_sql("select 1")
        except sa.exc.OperationalError as exc:
            if _required(self.variable):
                pytest.fail(f"{self.title} is required here but unreachable at {self.admin_url}: {exc}")
            pytest.skip(f"{self.title} unreachable at {self.admin_url}")
        name = f"mlmonitor_test_{uuid.uuid4().hex[:10]}"
        with admin.connect() as conn:
            conn.exec_driver_sql(self.create.format(name=name))
        url = admin.url.set(database=name)
        conn_fields = {
            **self.conn,
            "host": url.host or "127.0.0.1",
            "port": url.port or self.conn["port"],
            "login": url.username or self.conn["login"],
            "password": url.password or "",
            "schema": name,
        }
        try:
            yield {"name": name, "url": url.render_as_string(hide_password=False), "conn": json.dumps(conn_fields)}
        finally:
            with admin.connect() as conn:
                self.drop(conn, name)
            admin.dispose()


def _drop_postgres(conn: Any, name: str) -> None:
    conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _drop_mariadb(conn: Any, name: str) -> None:
    import sqlalchemy as sa

    # like PostgreSQL's DROP DATABASE ... WITH (FORCE): end the sessions a test left open
    sessions = conn.exec_driver_sql(
        "SELECT id FROM information_schema.processlist WHERE db = %s AND id <> connection_id()", (name,)
    ).scalars()
    for session in list(sessions):
        with contextlib.suppress(sa.exc.DBAPIError):
            conn.exec_driver_sql(f"KILL {int(session)}")
    conn.exec_driver_sql(f"DROP DATABASE IF EXISTS `{name}`")


POSTGRES = _Server(
    title="PostgreSQL",
    variable="PG",
    admin_url=PG_ADMIN_URL,
    conn={"conn_type": "postgres", "port": 5432, "login": "postgres"},
    create='CREATE DATABASE "{name}"',
    drop=_drop_postgres,
)
# the mysql provider's hook builds a PyMySQL engine with client=pymysql
MARIADB = _Server(
    title="MariaDB",
    variable="MARIADB",
    admin_url=MARIADB_ADMIN_URL,
    conn={"conn_type": "mysql", "port": 3306, "login": "root", "extra": {"client": "pymysql"}},
    create="CREATE DATABASE `{name}` CHARACTER SET utf8mb4",
    drop=_drop_mariadb,
)


@pytest.fixture
def postgres_database() -> Iterator[dict[str, str]]:
    """A scratch PostgreSQL database (created, then dropped); skipped only outside CI when PG is down."""
    yield from POSTGRES.scratch()


@pytest.fixture(scope="module")
def postgres_database_module() -> Iterator[dict[str, str]]:
    """As postgres_database, shared by the tests of one module (for expensive data set-up)."""
    yield from POSTGRES.scratch()


@pytest.fixture
def mariadb_database() -> Iterator[dict[str, str]]:
    """A scratch MariaDB database (created, then dropped); skipped only outside CI when MariaDB is down."""
    yield from MARIADB.scratch()


@pytest.fixture(scope="module")
def mariadb_database_module() -> Iterator[dict[str, str]]:
    """As mariadb_database, shared by the tests of one module (for expensive data set-up)."""
    yield from MARIADB.scratch()


@pytest.fixture(params=WAREHOUSES)
def engine(request: pytest.FixtureRequest) -> Iterator[object]:
    """An engine on a scratch SQLite file, then (further runs of the test) on a scratch PostgreSQL
    and a scratch MariaDB database."""
    import sqlalchemy as sa

    db = request.getfixturevalue(f"{request.param}_database")
    eng = sa.create_engine(db["url"])
    yield eng
    eng.dispose()


@pytest.fixture
def sqlite_database(tmp_path: Path) -> dict[str, str]:
    path = tmp_path / "warehouse.db"
    return {
        "name": str(path),
        "url": f"sqlite:///{path}",
        "conn": json.dumps({"conn_type": "sqlite", "host": str(path)}),
    }


@pytest.fixture(scope="session")
def ge_data_docs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A Data Docs site written by real Great Expectations (a tiny model derived and validated on SQLite):
    the site folder and the validation page's path inside it."""
    import datetime as dt

    import great_expectations as gx
    import sqlalchemy as sa

    from mlmonitor import pipeline
    from mlmonitor.checks.validation import validate_window
    from mlmonitor.config import ModelConfig
    from mlmonitor.project import GxProject
    from mlmonitor.warehouse import resolve_tables
    from mlmonitor.window import Window

    tmp = tmp_path_factory.mktemp("ge-data-docs")
    engine = sa.create_engine(f"sqlite:///{tmp / 'warehouse.db'}")
    day = dt.datetime(2024, 3, 1)
    rows = [{"id": i, "ts": day + dt.timedelta(minutes=i), "x": float(i), "c": "ab"[i % 2]} for i in range(60)]
    md = sa.MetaData()
    for name in ("training", "serving"):
        table = sa.Table(
            name, md, sa.Column("id", sa.Integer, primary_key=True), sa.Column("ts", sa.DateTime),
            sa.Column("x", sa.Float), sa.Column("c", sa.String(5)),
        )  # fmt: skip
        md.create_all(engine)
        with engine.begin() as conn:
            conn.execute(table.insert(), rows)
    model = ModelConfig.model_validate(
        {
            "name": "tiny",
            "training": {"table": "training"},
            "serving": {"table": "serving", "timestamp_column": "ts", "id_column": "id"},
            "prediction": {"column": "x", "task": "regression"},
            "features": {"numeric": [], "categorical": ["c"]},
            "schedule": "@daily",
            "start_date": "2024-01-01",
        }
    )
    project = GxProject(tmp / "expectations")
    pipeline.derive(model, engine, project, gx.__version__)
    start = day.replace(tzinfo=dt.UTC)
    outcome = validate_window(
        project, model, engine, resolve_tables(model, engine), Window(start, start + dt.timedelta(days=1))
    )
    engine.dispose()
    assert outcome.docs_path, "GE wrote no Data Docs page"
    return project.docs_dir, outcome.docs_path
