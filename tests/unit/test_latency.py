"""Latency regression against the trailing healthy windows stored in mlmonitor_metrics."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import sqlalchemy as sa

from mlmonitor.checks.health import latency_metrics
from mlmonitor.config import ModelConfig
from mlmonitor.dialect import Double
from mlmonitor.metrics import Metric, RunSummary
from mlmonitor.storage.results import previous_metric, runs, trailing_values, write_results
from mlmonitor.warehouse import ModelTables
from mlmonitor.window import Window
from tests.factories import model_config

DAY = dt.datetime(2024, 3, 10, tzinfo=dt.UTC)


def _model() -> ModelConfig:
    return model_config(serving={"latency_column": "lat"}, prediction={"task": "regression"})


def _serving(tmp_path: Path, latencies: list[float]) -> tuple[sa.Engine, ModelTables]:
    engine = sa.create_engine(f"sqlite:///{tmp_path}/w.db")
    serving = sa.Table(
        "s",
        sa.MetaData(),
        sa.Column("id", sa.Integer),
        sa.Column("ts", sa.DateTime),
        sa.Column("lat", Double),
        sa.Column("p", Double),
    )
    serving.create(engine)
    with engine.begin() as conn:
        conn.execute(
            serving.insert(),
            [
                {"id": i, "ts": DAY.replace(tzinfo=None) + dt.timedelta(minutes=i), "lat": x, "p": 0.0}
                for i, x in enumerate(latencies)
            ],
        )
    return engine, ModelTables(serving, serving, (), ())


def test_p95_regression_is_flagged_against_trailing_median(tmp_path: Path) -> None:
    # 100 values 1..100: percentile_disc p95 = the 95th smallest = 95
    engine, tables = _serving(tmp_path, [float(x) for x in range(1, 101)])
    window = Window(DAY, DAY + dt.timedelta(days=1))
    # trailing median of (50, 60, 70) = 60; limit 1.5 x 60 = 90 < 95 -> warning
    p95 = next(m for m in latency_metrics(engine, _model(), tables, window, [50.0, 70.0, 60.0]) if m.metric == "p95")
    assert (p95.value, p95.threshold, p95.status) == (95.0, 90.0, "warning")
    # trailing median 64 -> limit 96 > 95 -> ok
    p95 = next(m for m in latency_metrics(engine, _model(), tables, window, [64.0, 64.0, 64.0]) if m.metric == "p95")
    assert p95.status == "ok"
    # fewer than 3 trailing windows: no judgement, no threshold
    p95 = next(m for m in latency_metrics(engine, _model(), tables, window, [10.0, 10.0]) if m.metric == "p95")
    assert (p95.status, p95.threshold) == ("ok", None)


def test_trailing_values_take_recent_healthy_windows_only(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path}/r.db")
    for day, value, status in [
        (1, 10.0, "ok"),
        (2, 20.0, "ok"),
        (3, 99.0, "warning"),
        (4, 40.0, "ok"),
        (5, 50.0, "ok"),
    ]:
        start = dt.datetime(2024, 3, day, tzinfo=dt.UTC)
        run = RunSummary(
            model="m",
            window_start=start.isoformat(),
            window_end=(start + dt.timedelta(days=1)).isoformat(),
            rows=1,
            model_versions={},
            status="ok",
            failed_expectations=0,
            drifted_features=0,
        )
        write_results(
            engine, run, [Metric(check="health", column="lat", metric="p95", value=value, status=status)], start
        )  # type: ignore[arg-type]
    # before day 5, newest first, the warning window (day 3) skipped, at most 2
    assert trailing_values(engine, "m", "health", "lat", "p95", dt.datetime(2024, 3, 5, tzinfo=dt.UTC), 2) == [
        40.0,
        20.0,
    ]


def test_adhoc_windows_are_not_trailing_history(engine: sa.Engine) -> None:
    """An ad-hoc window (trigger form, not a schedule interval) is recorded but never a baseline value;
    rows written before the `adhoc` column existed (NULL) count as scheduled."""
    for day, hours, value, adhoc in [(1, 24, 10.0, None), (2, 24, 20.0, False), (3, 2, 500.0, True)]:
        start = dt.datetime(2024, 3, day, tzinfo=dt.UTC)
        run = RunSummary(
            model="m",
            window_start=start.isoformat(),
            window_end=(start + dt.timedelta(hours=hours)).isoformat(),
            rows=1,
            model_versions={},
            status="ok",
            failed_expectations=0,
            drifted_features=0,
            adhoc=bool(adhoc),
        )
        write_results(engine, run, [Metric(check="health", column="lat", metric="p95", value=value)], start)
        if adhoc is None:
            with engine.begin() as conn:
                conn.execute(sa.update(runs).values(adhoc=None))
    before = dt.datetime(2024, 3, 5, tzinfo=dt.UTC)
    assert trailing_values(engine, "m", "health", "lat", "p95", before, 5) == [20.0, 10.0]
    assert previous_metric(engine, "m", "health", "lat", "p95", before)["value"] == 20.0  # type: ignore[index]
    with engine.connect() as conn:
        assert conn.execute(sa.select(runs.c.adhoc).order_by(runs.c.window_start)).scalars().all() == [
            None,
            False,
            True,
        ]
