"""Evidence that accumulates: a small persistent shift in small windows, too weak for one window, is
found by pooling each window with the stored windows just before it; the audit trail names them."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pytest
from sqlalchemy.engine import Engine

from mlmonitor import pipeline
from mlmonitor.checks.base import History
from mlmonitor.checks.drift import accumulates, drift_metrics
from mlmonitor.checks.drift_stats import ColumnInput, PastWindow, pool
from mlmonitor.checks.drift_thresholds import with_learned_thresholds
from mlmonitor.config import ModelConfig
from mlmonitor.metrics import Metric
from mlmonitor.storage.baselines import derive_baseline
from mlmonitor.warehouse import resolve_tables
from mlmonitor.window import Window
from tests.factories import model_config, model_tables

T0 = dt.datetime(2024, 3, 1)
DAYS, PER_DAY, SHIFT_FROM, SHIFT = 8, 150, 4, 0.25


def _write(engine: Engine) -> None:
    rng = np.random.default_rng(8)
    t, s = model_tables(engine)

    def rows(n: int, start: dt.datetime, shift: float, first_id: int) -> list[dict[str, Any]]:
        x, c, p = rng.normal(shift, 1, n), rng.choice(["a", "b", "c"], n, p=[0.5, 0.3, 0.2]), rng.random(n)
        every = dt.timedelta(days=1) / n
        return [
            {"id": first_id + i, "ts": start + i * every, "x": float(x[i]), "c": str(c[i]), "p": float(p[i])}
            for i in range(n)
        ]

    with engine.begin() as conn:
        conn.execute(t.insert(), rows(6000, T0 - dt.timedelta(days=40), 0.0, 0))
        for day in range(DAYS):
            shift = SHIFT if day >= SHIFT_FROM else 0.0
            conn.execute(s.insert(), rows(PER_DAY, T0 + dt.timedelta(days=day), shift, day * PER_DAY))


def _run(engine: Engine, model: ModelConfig) -> dict[int, list[Metric]]:
    """Every day as the monitor DAG would: drift with the stored history, then persisted."""
    tables = resolve_tables(model, engine)
    baseline = with_learned_thresholds(model, engine, tables, derive_baseline(model, engine, tables))
    out = {}
    for day in range(DAYS):
        window = Window.of(T0 + dt.timedelta(days=day), T0 + dt.timedelta(days=day + 1))
        metrics = drift_metrics(
            engine, model, tables, baseline, window, history=History(engine, model.name, window.start)
        )
        pipeline.persist(model, engine, window, PER_DAY, {}, metrics, None, None, window.end)
        out[day] = metrics
    return out


def _x(metrics: list[Metric]) -> Metric:
    (x,) = [m for m in metrics if m.column == "x" and m.metric == "wasserstein"]
    return x


def test_a_small_persistent_shift_is_found_by_accumulated_evidence(engine: Engine) -> None:
    _write(engine)
    model = model_config(features={"numeric": ["x"], "categorical": ["c"]}, training={"timestamp_column": "ts"})
    assert accumulates(model, PER_DAY) and not accumulates(model, 1000)  # auto: windows under 1,000 rows
    days = _run(engine, model)
    # before the shift nothing is flagged, with or without the windows before
    for day in range(SHIFT_FROM):
        assert not [m for m in days[day] if m.column and m.status != "ok"], day
    assert "accumulated" not in _x(days[0]).details  # no stored window before the first one
    # a 0.25 std shift in 150 rows: no single window is sure of it, three pooled windows are
    found = [day for day in range(SHIFT_FROM, DAYS) if _x(days[day]).status == "warning"]
    assert found and found[0] <= SHIFT_FROM + 2, found
    day = found[0]
    first = _x(days[day])
    assert first.details["q_value"] >= 0.01 or first.value < first.threshold  # the window alone: no drift
    acc = first.details["accumulated"]
    assert acc["decision"] == "drift" and first.details["decision"] == "drift"
    assert acc["q_value"] < 0.01 and acc["effect_size"] >= acc["threshold"]
    start = [(T0 + dt.timedelta(days=d)).replace(tzinfo=dt.UTC).isoformat() for d in range(day - 2, day + 1)]
    assert acc["windows"] == start  # the contributing windows, oldest first
    assert acc["n_window"] == 3 * PER_DAY
    assert acc["threshold_why"].startswith("learned: ") and f"sqrt(150/{3 * PER_DAY})" in acc["threshold_why"]
    assert acc["threshold"] < first.threshold  # the pooled rows' spread is smaller
    # once every pooled window is shifted, the accumulated evidence keeps it flagged
    assert all(_x(days[d]).status == "warning" for d in range(SHIFT_FROM + 2, DAYS))


def test_accumulation_can_be_turned_off(engine: Engine) -> None:
    _write(engine)
    model = model_config(
        features={"numeric": ["x"], "categorical": ["c"]},
        training={"timestamp_column": "ts"},
        drift={"accumulate": {"mode": "off"}},
    )
    assert not accumulates(model, PER_DAY)
    days = _run(engine, model)
    assert all("accumulated" not in m.details for ms in days.values() for m in ms)
    assert not [d for d in range(SHIFT_FROM) if _x(days[d]).status != "ok"]


def test_pool_sums_counts_and_weights_the_mean() -> None:
    c = ColumnInput(
        column="x",
        kind="numeric",
        method="wasserstein",
        threshold=0.1,
        null_threshold=0.02,
        reference=[5, 5],
        reference_nulls=0,
        current=[1, 3],
        current_nulls=1,
        current_mean=2.0,
    )
    past = [
        PastWindow(label="a", counts=[2, 2], nulls=0, mean=0.5),
        PastWindow(label="b", counts=[0, 0], nulls=3, mean=None),
    ]
    p = pool(c, past)
    # 4 values at mean 2 and 4 at mean 0.5 -> 1.25; the empty window's unknown mean does not count
    assert (list(p.current), p.current_nulls, p.current_mean) == ([3, 5], 4, pytest.approx(1.25))
    assert pool(c, [PastWindow(label="a", counts=[2, 2], nulls=0, mean=None)]).current_mean is None
