"""A results database that does not answer (a long lock held by another session) costs the UI one
statement timeout, not a hung request: the page explains it within seconds, on PostgreSQL and SQLite.
Issue 16, finding 5 (routes had no database timeouts)."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from mlmonitor.metrics import RunSummary
from mlmonitor.storage.results import write_results
from tests.warehouses import WAREHOUSES

pytestmark = pytest.mark.integration
HOLD = 20.0  # seconds the other session keeps its lock: far longer than the UI may wait
TIMEOUT = 1.0  # [mlmonitor] ui_statement_timeout of the test
ANSWERED = 4.5  # the page answers within the timeout plus overhead, well before SQLite's default 5 s busy wait


def _results(url: str) -> None:
    engine = sa.create_engine(url)
    start = dt.datetime(2024, 3, 1, tzinfo=dt.UTC)
    summary = RunSummary(
        model="carloan",
        window_start=start.isoformat(),
        window_end=(start + dt.timedelta(days=1)).isoformat(),
        rows=1,
        model_versions={},
        status="ok",
        failed_expectations=0,
        drifted_features=0,
        message="1 rows",
    )
    write_results(engine, summary, [], start)
    engine.dispose()


@pytest.fixture(params=WAREHOUSES)
def locked(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Results in a database where another session holds a lock on mlmonitor_runs for HOLD seconds."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'warehouse.db'}"
        monkeypatch.setenv(
            "AIRFLOW_CONN_MLMONITOR_WAREHOUSE",
            json.dumps({"conn_type": "sqlite", "host": str(tmp_path / "warehouse.db")}),
        )
        lock = "BEGIN EXCLUSIVE"
    else:
        db = request.getfixturevalue(f"{request.param}_database")
        url = db["url"]
        monkeypatch.setenv("AIRFLOW_CONN_MLMONITOR_WAREHOUSE", db["conn"])
        lock = {
            "postgres": "LOCK TABLE mlmonitor_runs IN ACCESS EXCLUSIVE MODE",
            "mariadb": "LOCK TABLES mlmonitor_runs WRITE",
        }[request.param]
    _results(url)
    monkeypatch.setenv("AIRFLOW__MLMONITOR__UI_STATEMENT_TIMEOUT", str(TIMEOUT))
    holder = sa.create_engine(url, poolclass=sa.pool.NullPool)
    conn = holder.connect()
    raw = conn.connection.driver_connection
    if request.param == "sqlite":
        raw.isolation_level = None  # let the BEGIN below be ours
    cursor = raw.cursor()
    cursor.execute(lock)
    unlock = (lambda: cursor.execute("UNLOCK TABLES")) if request.param == "mariadb" else raw.rollback
    release = threading.Timer(HOLD, unlock)
    release.start()
    try:
        yield
    finally:
        release.cancel()
        unlock()
        conn.close()
        holder.dispose()


def test_a_locked_results_database_costs_one_timeout_not_a_hung_page(client: Any, token: str, locked: None) -> None:
    started = time.monotonic()
    page = client.get("/mlmonitor/models/carloan", headers={"Authorization": f"Bearer {token}"})
    elapsed = time.monotonic() - started
    assert page.status_code == 503 and "Results of carloan are unavailable" in page.text, page.text[-500:]
    assert elapsed < ANSWERED, f"the page waited {elapsed:.1f} s for the lock"
    started = time.monotonic()
    index = client.get("/mlmonitor/", headers={"Authorization": f"Bearer {token}"})
    assert index.status_code == 200 and "results unavailable" in index.text
    assert time.monotonic() - started < ANSWERED
