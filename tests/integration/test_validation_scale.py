"""Validation at warehouse scale, with real GE: no window rows reach the worker, nothing shared is
rewritten per window, the model's index costs the same at every window, no secret is left behind.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from mlmonitor import pipeline
from mlmonitor.checks.validation import validate_window
from mlmonitor.gx_runtime import great_expectations
from mlmonitor.project import GxProject
from mlmonitor.warehouse import resolve_tables
from mlmonitor.window import Window
from tests.integration.test_validation import DAY, WINDOW, N, _columns, _model, _rows, _table
from tests.warehouses import WAREHOUSES

pytestmark = pytest.mark.integration
# drivers that buffer a SELECT's rows and report how many it returned (SQLite's cursor says -1)
COUNTING = [pytest.param("postgres", marks=pytest.mark.postgres), pytest.param("mariadb", marks=pytest.mark.mariadb)]


def _three_days() -> list[dict[str, Any]]:
    """The window's rows, the same rows the day before and after, and one row at the window's end."""
    rows = [
        {**r, "id": r["id"] + offset, "ts": r["ts"] + dt.timedelta(days=days)}
        for offset, days in ((0, 0), (N, -1), (2 * N, 1))
        for r in _rows()
    ]
    return [*rows, {**_rows(1)[0], "id": 5 * N, "ts": DAY.replace(tzinfo=None) + dt.timedelta(days=1)}]


def _warehouse(url: str) -> sa.Engine:
    engine = sa.create_engine(url)
    _table(engine, "training", _rows(), _columns())
    _table(engine, "serving", _three_days(), _columns())
    return engine


@pytest.fixture(params=WAREHOUSES)
def engine(request: pytest.FixtureRequest) -> Iterator[sa.Engine]:
    engine = _warehouse(request.getfixturevalue(f"{request.param}_database")["url"])
    yield engine
    engine.dispose()


@pytest.fixture(params=COUNTING)
def counted(request: pytest.FixtureRequest) -> Iterator[sa.Engine]:
    engine = _warehouse(request.getfixturevalue(f"{request.param}_database")["url"])
    yield engine
    engine.dispose()


def test_no_statement_brings_the_window_to_the_worker(counted: sa.Engine, project: GxProject) -> None:
    """Every statement GE sends returns a bounded number of rows (aggregates, LIMIT-ed samples,
    catalogue rows), never the window's 1,000 rows: a query asset made GE fetch them all first."""
    model = _model()
    derived = pipeline.derive(model, counted, project, great_expectations().__version__)
    returned: list[tuple[int, str]] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        returned.append((cursor.rowcount, " ".join(statement.split())))

    sa.event.listen(sa.engine.Engine, "after_cursor_execute", record)
    try:
        outcome = validate_window(project, model, counted, resolve_tables(model, counted), WINDOW)
    finally:
        sa.event.remove(sa.engine.Engine, "after_cursor_execute", record)
    assert outcome.success, [m for m in outcome.metrics if m.status != "ok"]
    assert len(outcome.metrics) == derived["expectations"] + derived["schema_expectations"]
    row_count = next(m for m in outcome.metrics if m.metric == "expect_table_row_count_to_be_between")
    assert row_count.value == N
    serving = [(n, s) for n, s in returned if "serving" in s]
    assert serving, "the statements of GE's engine were not recorded"
    biggest = max(serving)
    assert biggest[0] <= model.validation.sample_values, f"a statement returned {biggest[0]} rows: {biggest[1][:300]}"
    # the window bounds reached the warehouse in every statement that reads rows
    scans = [s for _, s in serving if " FROM serving" in s and not s.startswith("SELECT 1 FROM serving LIMIT")]
    assert scans and all("ts >=" in s and "ts <" in s for s in scans), scans[:3]


def test_counts_are_the_windows_on_every_warehouse(engine: sa.Engine, project: GxProject) -> None:
    """The row condition selects exactly [start, end): the serving table holds the day before and
    after the window too (SQLite compares the stored text, so the bounds must be in its form)."""
    model = _model()
    pipeline.derive(model, engine, project, great_expectations().__version__)
    outcome = validate_window(project, model, engine, resolve_tables(model, engine), WINDOW)
    row_count = next(m for m in outcome.metrics if m.metric == "expect_table_row_count_to_be_between")
    assert row_count.value == N
    assert outcome.success, [m for m in outcome.metrics if m.status != "ok"]


def test_nothing_shared_is_rewritten_and_suites_are_never_saved_by_ge(engine: sa.Engine, project: GxProject) -> None:
    """No great_expectations.yml (the datasource lives in memory), and the suites GE validated keep
    their bytes and modification times: GE holds them in an in-memory store."""
    model = _model()
    derived = pipeline.derive(model, engine, project, great_expectations().__version__)
    suites = [Path(derived[k]) for k in ("suite", "schema_suite")]
    before = [(p.read_bytes(), p.stat().st_mtime_ns) for p in suites]
    validate_window(project, model, engine, resolve_tables(model, engine), WINDOW)
    assert [(p.read_bytes(), p.stat().st_mtime_ns) for p in suites] == before
    assert not list(project.gx_dir.rglob("great_expectations.yml"))
    assert "row_condition" not in suites[0].read_text()


def test_model_index_reads_no_stored_result(engine: sa.Engine, project: GxProject) -> None:
    """The model's index keeps its rows in a small file: after three windows the stored validation
    results can be gone (retention, another machine's disk) and the fourth window's index still
    lists every window with its outcome."""
    model = _model()
    pipeline.derive(model, engine, project, great_expectations().__version__)
    tables = resolve_tables(model, engine)
    days = [Window(DAY + dt.timedelta(days=d), DAY + dt.timedelta(days=d + 1)) for d in range(4)]
    for window in days[:3]:
        validate_window(project, model, engine, tables, window)
    for stored in (project.gx_dir / "uncommitted" / "validations").rglob("*.json"):
        stored.unlink()
    validate_window(project, model, engine, tables, days[3])
    page = (project.docs_dir / "mlmonitor" / "loans.html").read_text()
    for window in days:
        assert f"{window.start:%Y-%m-%d %H:%M}" in page
    # days 3-4 are empty: their row count fails; the serving table's types pass every time
    assert page.count(">passed<") == 6 and page.count(">FAILED<") == 2
    assert "(2 validations)" not in page
    rows = json.loads(project.model_index_path("loans").read_text())
    assert len(rows) == 4 and all(len(cells) == 2 for cells in rows.values())


@pytest.mark.postgres
def test_no_secret_left_and_analytics_off(postgres_database: dict[str, str], project: GxProject) -> None:
    """The warehouse URL (with its password) goes to GE in code: nothing of it stays in os.environ
    (inherited by every subprocess) or in the files GE writes; GE's usage statistics are off."""
    secret = "s3cret-pw-4711"  # the local server trusts any password
    url = sa.make_url(postgres_database["url"]).set(password=secret)
    engine = _warehouse(url.render_as_string(hide_password=False))
    model = _model()
    pipeline.derive(model, engine, project, great_expectations().__version__)
    before = dict(os.environ)
    validate_window(project, model, engine, resolve_tables(model, engine), WINDOW)
    assert os.environ["GX_ANALYTICS_ENABLED"] == "false"
    assert not [k for k, v in os.environ.items() if secret in v]
    assert set(os.environ) - set(before) <= {"GX_ANALYTICS_ENABLED"}
    assert not [p for p in project.root.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]
    engine.dispose()


@pytest.mark.postgres
def test_psycopg3_engines_validate_the_window(postgres_database: dict[str, str], project: GxProject) -> None:
    """psycopg 3 (what Airflow's postgres provider builds) casts GE's text bounds to VARCHAR, which
    PostgreSQL will not compare with a timestamp: GE gets the same server through psycopg2."""
    engine = _warehouse(
        sa.make_url(postgres_database["url"]).set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    )
    model = _model()
    pipeline.derive(model, engine, project, great_expectations().__version__)
    outcome = validate_window(project, model, engine, resolve_tables(model, engine), WINDOW)
    assert outcome.success, [(m.metric, m.details.get("error")) for m in outcome.metrics if m.status != "ok"]
    assert next(m for m in outcome.metrics if m.metric == "expect_table_row_count_to_be_between").value == N
    engine.dispose()
