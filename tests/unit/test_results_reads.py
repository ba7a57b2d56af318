"""Reads of the results tables the UI does: bounded by window range in SQL, a run found by its run id
by index, tables of an older version upgraded in place, and a re-score that changes a window's status
(real SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from mlmonitor.metrics import Metric, RunSummary
from mlmonitor.storage.results import (
    ensure_tables,
    find_run,
    read_metrics,
    read_runs,
    replace_check,
    runs,
    write_results,
)

D0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def _write(engine: Engine, hour: int, status: str = "ok", run_id: str | None = None) -> None:
    start = D0 + dt.timedelta(hours=hour)
    summary = RunSummary(
        model="m",
        window_start=start.isoformat(),
        window_end=(start + dt.timedelta(hours=1)).isoformat(),
        rows=10,
        model_versions={"1": 10},
        status=status,  # type: ignore[arg-type]
        failed_expectations=0,
        drifted_features=0,
        airflow_run_id=run_id or f"scheduled__{start.isoformat()}",
        message="10 rows",
    )
    rows = [Metric(check="health", column="", metric="rows", value=10.0, status=status)]  # type: ignore[arg-type]
    write_results(engine, summary, rows, start)


def test_reads_are_bounded_by_window_range(engine: Engine) -> None:
    for hour in range(10):
        _write(engine, hour)
    at = [D0.replace(tzinfo=None) + dt.timedelta(hours=h) for h in range(10)]
    assert [r["window_start"] for r in read_runs(engine, "m", limit=3)] == [at[9], at[8], at[7]]
    assert [r["window_start"] for r in read_runs(engine, "m", limit=2, before=at[5])] == [at[4], at[3]]
    after = read_runs(engine, "m", limit=2, since=at[5], oldest_first=True)
    assert [r["window_start"] for r in after] == [at[5], at[6]]
    assert [m["window_start"] for m in read_metrics(engine, "m", since=at[7])] == at[7:]
    assert [m["window_start"] for m in read_metrics(engine, "m", since=at[2], until=at[3])] == at[2:4]


def test_a_run_is_found_by_its_run_id_however_old(engine: Engine) -> None:
    """`/runs/{dag}/{run_id}` scanned the newest 1,000 runs, so older runs answered 404."""
    _write(engine, 0, run_id="scheduled__the_oldest")
    with engine.begin() as conn:  # 1,200 newer windows, written in bulk
        start = D0.replace(tzinfo=None)
        conn.execute(
            runs.insert(),
            [
                {
                    "model": "m",
                    "window_start": start + dt.timedelta(hours=h),
                    "status": "ok",
                    "rows": 1,
                    "window_end": start + dt.timedelta(hours=h + 1),
                    "model_versions": "{}",
                    "failed_expectations": 0,
                    "drifted_features": 0,
                    "airflow_run_id": f"run{h}",
                    "message": "",
                    "computed_at": start,
                }
                for h in range(1, 1201)
            ],
        )
    found = find_run(engine, "m", "scheduled__the_oldest")
    assert found is not None and found["window_start"] == D0.replace(tzinfo=None)
    assert find_run(engine, "m", "run1200") is not None and find_run(engine, "m", "nope") is None
    indexes = {i["name"]: i["column_names"] for i in sa.inspect(engine).get_indexes("mlmonitor_runs")}
    assert indexes["ix_mlmonitor_runs_run_id"] == ["model", "airflow_run_id"]


def test_tables_of_an_older_version_get_the_new_columns_and_index(engine: Engine) -> None:
    """Results tables created before monitor_status / rescored_at existed keep their rows and gain them."""
    old = sa.MetaData()
    table = sa.Table(
        "mlmonitor_runs",
        old,
        *(c.copy() for c in runs.columns if c.name not in ("monitor_status", "rescored_at")),  # type: ignore[attr-defined]
    )
    old.create_all(engine)
    with engine.begin() as conn:
        conn.execute(
            table.insert(),
            [
                {
                    "model": "m",
                    "window_start": dt.datetime(2024, 1, 1),
                    "window_end": dt.datetime(2024, 1, 1, 1),
                    "status": "warning",
                    "rows": 5,
                    "model_versions": "{}",
                    "failed_expectations": 0,
                    "drifted_features": 1,
                    "docs_path": None,
                    "airflow_run_id": "old",
                    "message": "x",
                    "computed_at": dt.datetime(2024, 1, 1, 2),
                }
            ],
        )
    ensure_tables(engine)
    (row,) = read_runs(engine, "m")
    assert row["message"] == "x" and row["status"] == "warning"
    assert row["monitor_status"] is None and row["rescored_at"] is None
    assert "ix_mlmonitor_runs_run_id" in {i["name"] for i in sa.inspect(engine).get_indexes("mlmonitor_runs")}
    _write(engine, 5)  # and the upgraded table takes new rows
    assert read_runs(engine, "m", limit=1)[0]["monitor_status"] == "ok"


def test_a_rescore_that_finds_a_regression_changes_the_status_and_shows_it(engine: Engine) -> None:
    _write(engine, 0, status="warning")
    start, end = D0, D0 + dt.timedelta(hours=1)
    later = dt.datetime(2024, 1, 8, 6, 0, tzinfo=dt.UTC)
    worse = [Metric(check="performance", column="", metric="accuracy", value=0.5, status="alert", threshold=0.7)]

    def restatus(run: object, stored: list[Metric]) -> tuple[str, str]:
        assert {m.check for m in stored} == {"health", "performance"}  # every row of the window, as stored
        return "alert", "10 rows; quality regressed: accuracy"

    change = replace_check(engine, "m", start, end, "performance", worse, restatus=restatus, now=later)  # type: ignore[arg-type]
    assert change == ("warning", "alert")
    (row,) = read_runs(engine, "m")
    assert (row["status"], row["monitor_status"]) == ("alert", "warning")
    assert row["rescored_at"] == later.replace(tzinfo=None) and row["message"].endswith("accuracy")
    assert replace_check(engine, "m", start + dt.timedelta(hours=5), end, "performance", [], restatus=restatus) is None
