"""The results tables: idempotent, transactional writes per (model, window), on real SQLite."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from mlmonitor.metrics import Metric, RunSummary
from mlmonitor.storage.results import ensure_tables, metrics, read_metrics, read_runs, runs, write_results

NOW = dt.datetime(2024, 3, 3, 12, 0, tzinfo=dt.UTC)
DAY1 = ("2024-03-01T00:00:00+00:00", "2024-03-02T00:00:00+00:00")
DAY2 = ("2024-03-02T00:00:00+00:00", "2024-03-03T00:00:00+00:00")


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    return sa.create_engine(f"sqlite:///{tmp_path}/w.db")


def summary(
    window: tuple[str, str] = DAY1, status: str = "ok", rows: int = 100, model: str = "m", message: str = ""
) -> RunSummary:
    return RunSummary(
        model=model,
        window_start=window[0],
        window_end=window[1],
        rows=rows,
        model_versions={"1.1.0": rows - 10, "1.0.0": 10},
        status=status,  # type: ignore[arg-type]
        failed_expectations=0,
        drifted_features=0,
        message=message,
    )


def all_metrics(engine: Engine) -> list[tuple[object, ...]]:
    with engine.connect() as conn:
        stmt = sa.select(metrics.c.window_start, metrics.c.column_name, metrics.c.metric, metrics.c.value)
        return [
            tuple(r)
            for r in conn.execute(stmt.order_by(metrics.c.window_start, metrics.c.column_name, metrics.c.metric))
        ]


def count(engine: Engine, table: sa.Table) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def test_ensure_tables_is_idempotent(engine: Engine) -> None:
    ensure_tables(engine)
    ensure_tables(engine)
    assert set(sa.inspect(engine).get_table_names()) == {"mlmonitor_runs", "mlmonitor_metrics"}


def test_write_results_stores_run_and_metrics(engine: Engine) -> None:
    ms = [
        Metric(check="stats", column="score", metric="mean", value=0.25, details={"n_window": 100}),
        Metric(
            check="drift",
            column="age",
            metric="psi",
            value=0.3,
            status="warning",
            threshold=0.1,
            p_value=0.001,
            details={"decision": "drift"},
        ),
    ]
    write_results(engine, summary(message="100 rows"), ms, NOW)
    (run,) = read_runs(engine, "m")
    assert run["window_start"] == dt.datetime(2024, 3, 1)  # naive UTC
    assert run["window_end"] == dt.datetime(2024, 3, 2)
    assert run["computed_at"] == dt.datetime(2024, 3, 3, 12, 0)
    assert (run["status"], run["rows"], run["message"]) == ("ok", 100, "100 rows")
    assert run["model_versions"] == '{"1.0.0": 10, "1.1.0": 90}'  # sorted keys
    rows = read_metrics(engine, "m")
    by_metric = {r["metric"]: r for r in rows}
    assert by_metric["psi"]["check_name"] == "drift"
    assert (by_metric["psi"]["value"], by_metric["psi"]["threshold"], by_metric["psi"]["p_value"]) == (0.3, 0.1, 0.001)
    assert by_metric["psi"]["status"] == "warning"
    assert json.loads(by_metric["psi"]["details"]) == {"decision": "drift"}
    assert by_metric["mean"]["details"] == '{"n_window": 100}'


def test_rewriting_a_window_replaces_its_rows(engine: Engine) -> None:
    write_results(
        engine,
        summary(status="ok", rows=100),
        [
            Metric(check="stats", column="score", metric="mean", value=0.25),
            Metric(check="stats", column="score", metric="std", value=0.1),
        ],
        NOW,
    )
    write_results(
        engine,
        summary(status="warning", rows=120),
        [Metric(check="drift", column="age", metric="psi", value=0.4, status="warning")],
        NOW + dt.timedelta(hours=1),
    )
    (run,) = read_runs(engine, "m")
    assert count(engine, runs) == 1
    assert (run["status"], run["rows"]) == ("warning", 120)
    assert run["computed_at"] == dt.datetime(2024, 3, 3, 13, 0)
    assert all_metrics(engine) == [(dt.datetime(2024, 3, 1), "age", "psi", 0.4)]


def test_same_window_written_with_other_offsets_is_the_same_key(engine: Engine) -> None:
    # 2024-03-01T02:00+02:00 is 2024-03-01T00:00Z
    write_results(engine, summary(), [Metric(check="stats", column="score", metric="mean", value=1.0)], NOW)
    write_results(
        engine,
        summary(("2024-03-01T02:00:00+02:00", "2024-03-02T02:00:00+02:00")),
        [Metric(check="stats", column="score", metric="mean", value=2.0)],
        NOW,
    )
    assert count(engine, runs) == 1
    assert all_metrics(engine) == [(dt.datetime(2024, 3, 1), "score", "mean", 2.0)]


def test_other_windows_and_models_are_untouched(engine: Engine) -> None:
    write_results(engine, summary(DAY1), [Metric(check="stats", column="score", metric="mean", value=1.0)], NOW)
    write_results(engine, summary(DAY2), [Metric(check="stats", column="score", metric="mean", value=2.0)], NOW)
    write_results(
        engine, summary(DAY1, model="other"), [Metric(check="stats", column="score", metric="mean", value=9.0)], NOW
    )
    write_results(
        engine, summary(DAY1), [Metric(check="stats", column="score", metric="mean", value=3.0)], NOW
    )  # re-run of day 1
    assert [(r["window_start"], r["value"]) for r in read_metrics(engine, "m")] == [
        (dt.datetime(2024, 3, 1), 3.0),
        (dt.datetime(2024, 3, 2), 2.0),
    ]
    assert [r["value"] for r in read_metrics(engine, "other")] == [9.0]
    assert count(engine, runs) == 3
    day2 = read_metrics(engine, "m", dt.datetime(2024, 3, 2, tzinfo=dt.UTC))
    assert [r["value"] for r in day2] == [2.0]


def test_failed_write_rolls_back_and_keeps_previous_rows(engine: Engine) -> None:
    write_results(
        engine, summary(status="ok", rows=100), [Metric(check="stats", column="score", metric="mean", value=0.25)], NOW
    )
    write_results(engine, summary(DAY2), [Metric(check="stats", column="score", metric="mean", value=0.5)], NOW)
    dup = Metric(check="drift", column="age", metric="psi", value=0.4, status="warning")
    # the same primary key twice is refused before the write (a database-level failure halfway
    # through the write is tests/faults/test_faults.py::test_a_results_write_failing_halfway_rolls_back)
    with pytest.raises(ValueError, match="appears twice"):
        write_results(engine, summary(status="alert", rows=7), [dup, dup], NOW)
    runs_now = read_runs(engine, "m")
    assert [(r["window_start"], r["status"], r["rows"]) for r in runs_now] == [
        (dt.datetime(2024, 3, 2), "ok", 100),
        (dt.datetime(2024, 3, 1), "ok", 100),
    ]
    assert all_metrics(engine) == [
        (dt.datetime(2024, 3, 1), "score", "mean", 0.25),
        (dt.datetime(2024, 3, 2), "score", "mean", 0.5),
    ]


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_values_are_stored_as_null(engine: Engine, bad: float) -> None:
    write_results(
        engine,
        summary(),
        [
            Metric(check="stats", column="score", metric="std", value=bad),
            Metric(check="stats", column="score", metric="mean", value=0.0),
            Metric(check="stats", column="score", metric="max", value=None),
        ],
        NOW,
    )
    values = {r["metric"]: r["value"] for r in read_metrics(engine, "m")}
    assert values == {"std": None, "mean": 0.0, "max": None}


def test_run_without_metrics(engine: Engine) -> None:
    write_results(engine, summary(status="no_data", rows=0), [], NOW)
    (run,) = read_runs(engine, "m")
    assert (run["status"], run["rows"]) == ("no_data", 0)
    assert read_metrics(engine, "m") == []


def test_read_runs_newest_first_and_limited(engine: Engine) -> None:
    for day in (2, 5, 1, 4, 3):
        start = dt.datetime(2024, 3, day, tzinfo=dt.UTC)
        w = (start.isoformat(), (start + dt.timedelta(days=1)).isoformat())
        write_results(engine, summary(w, rows=day * 10), [], NOW)
    assert [r["window_start"].day for r in read_runs(engine, "m")] == [5, 4, 3, 2, 1]
    assert [r["rows"] for r in read_runs(engine, "m", limit=2)] == [50, 40]
    assert read_runs(engine, "nobody") == []
