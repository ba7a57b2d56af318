"""Drift thresholds learned from the reference: chunk counts in one SQL pass, the spread by hand, which
threshold wins, the rescaling to a window's size and the warning when that size drifts far."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from mlmonitor import profile as prof
from mlmonitor.checks.drift import WINDOW_ROWS, drift_metrics
from mlmonitor.checks.drift_thresholds import (
    expected_window_rows,
    learn_column,
    reference_input,
    resolve,
    spread,
    window_size_off,
    with_learned_thresholds,
)
from mlmonitor.config import DriftConfig, LearnedThresholdsConfig
from mlmonitor.dialect import capabilities
from mlmonitor.storage.baselines import (
    ColumnSpread,
    LearnedThresholds,
    Spread,
    derive_baseline,
    learned_not_finite,
    load_baseline,
    save_baseline,
)
from mlmonitor.warehouse import resolve_tables, window_filter
from mlmonitor.window import Window
from tests.factories import model_config, model_tables

T0 = dt.datetime(2024, 3, 1)
CATS = ("a", "b", "c", "d")


def _rows(n: int, start: dt.datetime, every: dt.timedelta, seed: int) -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        k = (i * 7 + seed) % 13
        out.append(
            {
                "id": i,
                "ts": start + i * every,
                "x": None if i % 17 == 0 else float(k) + (i % 5) / 10,
                "c": CATS[(i * 3 + seed) % 4] if i % 11 else None,
                "p": ((i * 5 + seed) % 10) / 10,
            }
        )
    return out


def _tables(engine: Engine) -> tuple[sa.Table, sa.Table]:
    t, s = model_tables(engine)
    with engine.begin() as conn:
        # training: 400 rows, one an hour; serving: 3 days of 40 rows (one every 36 minutes)
        conn.execute(t.insert(), _rows(400, T0 - dt.timedelta(days=30), dt.timedelta(hours=1), seed=0))
        conn.execute(s.insert(), _rows(120, T0, dt.timedelta(minutes=36), seed=3))
    return t, s


def test_chunk_counts_are_the_window_counts_of_consecutive_chunks_in_one_statement(engine: Engine) -> None:
    t, _ = _tables(engine)
    numeric, categorical = {"x": [2.0, 5.5, 9.0]}, {"c": ["a", "b", "c"]}
    statements: list[str] = []
    sa.event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    chunks = prof.chunk_counts(engine, t, numeric, categorical, 10, order_by="ts")
    assert len(statements) == 1, "one pass over the training table, GROUP BY chunk"
    assert [k for k, _ in chunks] == list(range(1, 11))
    start = T0 - dt.timedelta(days=30)
    for k, counts in chunks:  # ntile over ts: chunk k holds hours 40 (k - 1) .. 40 k - 1
        lo, hi = start + dt.timedelta(hours=40 * (k - 1)), start + dt.timedelta(hours=40 * k)
        where = window_filter(t.c.ts, Window.of(lo, hi))
        total, expected = prof.window_counts(engine, t, numeric, categorical, where)
        assert total == 40
        assert counts == expected, k
        assert counts["x"].mean == pytest.approx(expected["x"].mean), k


def test_thresholds_learned_at_derivation_judge_windows_of_that_size(engine: Engine) -> None:
    _tables(engine)
    model = model_config(features={"numeric": ["x"], "categorical": ["c"]}, training={"timestamp_column": "ts"})
    tables = resolve_tables(model, engine)
    baseline = with_learned_thresholds(model, engine, tables, derive_baseline(model, engine, tables))
    learned = baseline.learned
    assert learned is not None, baseline.learned_note
    # the serving table held 40 rows a day in each of the 3 days before its newest row -> 10 chunks of 40
    assert (learned.window_rows, learned.chunks, learned.order_by) == (40, 10, "ts")
    assert learned.window_rows_source == (
        "serving rows per schedule interval at derivation (median of the 3 of the last 7 intervals with rows)"
    )
    assert set(learned.columns) == {"x", "c", "p"}
    assert set(learned.columns["x"].effects) == {"wasserstein", "psi", "js", "ks"}
    assert set(learned.columns["c"].effects) == {"linf", "psi", "js"}
    # the same spread from the chunks counted one by one
    ref = reference_input("x", baseline.numeric["x"], None)
    chunks = prof.chunk_counts(engine, tables.training, {"x": baseline.numeric["x"].edges}, {}, 10, "ts")
    fpc = math.sqrt((400 + 40) / (400 - 40))
    assert learned.columns["x"] == learn_column(ref, [c["x"] for _, c in chunks], 3.0, fpc)
    # a window of the learned size is judged by the learned thresholds, rescaled to its rows
    day = Window.of(T0 + dt.timedelta(days=1), T0 + dt.timedelta(days=2))
    rows = drift_metrics(engine, model, tables, baseline, day)
    (x,) = [m for m in rows if m.column == "x" and m.metric == "wasserstein"]
    n = x.details["n_window"]
    s = learned.columns["x"].effects["wasserstein"]
    assert x.threshold == pytest.approx(max(s.threshold * math.sqrt(40 / n), 0.05))
    assert x.details["threshold_why"].startswith(f"learned: mean {s.mean:.4g} + 3 x std {s.std:.4g} over 10")
    (xn,) = [m for m in rows if m.column == "x" and m.metric == "null_rate_shift"]
    assert xn.details["threshold_why"].startswith("learned: ")
    assert not [m for m in rows if m.metric == WINDOW_ROWS]
    # a window 3 days long is 3 x the learned size: at relearn_factor 2 it warns, naming the fix
    three = Window.of(T0, T0 + dt.timedelta(days=3))
    strict = model.model_copy(
        update={"drift": model.drift.model_copy(update={"learned": LearnedThresholdsConfig(relearn_factor=2)})}
    )
    (warn,) = [m for m in drift_metrics(engine, strict, tables, baseline, three) if m.metric == WINDOW_ROWS]
    assert (warn.status, warn.value, warn.threshold) == ("warning", 120.0, 40.0)
    assert "re-derive the baseline" in warn.details["why"] and "mlmonitor baseline m" in warn.details["why"]
    assert not [m for m in drift_metrics(engine, model, tables, baseline, three) if m.metric == WINDOW_ROWS]


def test_an_explicit_threshold_wins_over_the_learned_one(engine: Engine) -> None:
    _tables(engine)
    model = model_config(
        features={"numeric": ["x"], "categorical": ["c"]},
        drift={"columns": {"x": {"threshold": 0.7}}, "null_rate_threshold": 0.3},
    )
    tables = resolve_tables(model, engine)
    baseline = with_learned_thresholds(model, engine, tables, derive_baseline(model, engine, tables))
    assert baseline.learned is not None and baseline.learned.order_by is None  # no training timestamp: table order
    rows = drift_metrics(engine, model, tables, baseline, Window.of(T0, T0 + dt.timedelta(days=1)))
    (x,) = [m for m in rows if m.column == "x" and m.metric == "wasserstein"]
    assert x.threshold == 0.7 and x.details["threshold_why"] == "fixed: set in the model YAML"
    (c,) = [m for m in rows if m.column == "c" and m.metric == "linf"]
    assert c.details["threshold_why"].startswith("learned: ")
    assert {m.threshold for m in rows if m.metric == "null_rate_shift"} == {0.3}


def test_the_served_volume_ignores_gaps_in_the_logs(engine: Engine) -> None:
    """Days without logs do not dilute the served volume (a mean over the span would); with no serving
    rows, the training rows per interval are the estimate."""
    _, s = _tables(engine)
    with engine.begin() as conn:  # one more day of 40 rows, 20 days after the others
        conn.execute(
            s.insert(),
            [{**r, "id": 1000 + r["id"]} for r in _rows(40, T0 + dt.timedelta(days=23), dt.timedelta(minutes=36), 1)],
        )
    model = model_config(features={"numeric": ["x"]}, training={"timestamp_column": "ts"})
    tables = resolve_tables(model, engine)
    assert expected_window_rows(model, engine, tables.serving, tables.training) == (
        40,
        "serving rows per schedule interval at derivation (median of the 1 of the last 7 intervals with rows)",
    )
    with engine.begin() as conn:
        conn.execute(s.delete())
    # training: 400 rows an hour apart, 399 hours = 16.6 days -> 24 rows a day
    assert expected_window_rows(model, engine, tables.serving, tables.training) == (
        24,
        "training rows per schedule interval (400 rows over 16.6 intervals)",
    )


def test_no_learning_without_a_window_size_or_enough_chunks(engine: Engine) -> None:
    _tables(engine)
    model = model_config(features={"numeric": ["x"], "categorical": ["c"]}, drift={"learned": {"window_rows": 100}})
    tables = resolve_tables(model, engine)
    baseline = with_learned_thresholds(model, engine, tables, derive_baseline(model, engine, tables))
    assert baseline.learned is None
    assert baseline.learned_note == (
        "the training table has 400 rows: fewer than drift.learned.min_chunks (10) chunks of 100 rows "
        "(drift.learned.window_rows); the fixed thresholds apply"
    )
    rows = drift_metrics(engine, model, tables, baseline, Window.of(T0, T0 + dt.timedelta(days=1)))
    (x,) = [m for m in rows if m.column == "x" and m.metric == "wasserstein"]
    assert x.threshold == 0.1 and x.details["threshold_why"] == "fixed: the method's default (no learned threshold)"
    off = model_config(features={"numeric": ["x"]}, drift={"learned": {"enabled": False}})
    assert with_learned_thresholds(off, engine, tables, derive_baseline(off, engine, tables)).learned is None


def test_spread_and_resolve_by_hand() -> None:
    # values 1, 2, 3: mean 2, sample std 1 -> 2 + 3 x 1 = 5, x the chunk-in-reference factor 1.1
    s = spread([1.0, 2.0, 3.0], 3.0, 1.1)
    assert (s.mean, s.std, s.max, s.threshold) == (2.0, 1.0, 3.0, pytest.approx(5.5))
    learned = LearnedThresholds(
        window_rows=100,
        window_rows_source="test",
        chunks=50,
        order_by=None,
        sigmas=3.0,
        columns={
            "x": ColumnSpread(
                effects={"wasserstein": Spread(mean=0.1, std=0.03, max=0.2, threshold=0.2)},
                null_rate=Spread(mean=0.01, std=0.01, max=0.05, threshold=0.04),
            )
        },
    )
    common: dict[str, Any] = {"learned": learned, "method": "wasserstein", "threshold": 0.1, "null_threshold": 0.02}
    common |= {"floor": 0.5, "null_default": 0.02}
    # 4 x the learned rows: the spread halves
    r = resolve(column="x", explicit=(False, False), window_rows=400, **common)
    assert (r.threshold, r.null_threshold) == (pytest.approx(0.1), pytest.approx(0.02))
    # 100 x the learned rows: floored at half the defaults
    r = resolve(column="x", explicit=(False, False), window_rows=10_000, **common)
    assert (r.threshold, r.null_threshold) == (0.05, 0.01)
    # explicit thresholds and columns without a learned spread keep the fixed ones
    r = resolve(column="x", explicit=(True, False), window_rows=100, **common)
    assert (r.threshold, r.null_threshold) == (0.1, pytest.approx(0.04))
    assert r.why == "fixed: set in the model YAML"
    r = resolve(column="y", explicit=(False, False), window_rows=100, **common)
    assert (r.threshold, r.null_threshold) == (0.1, 0.02)
    assert window_size_off(learned, 301, 3.0) and window_size_off(learned, 33, 3.0)
    assert not window_size_off(learned, 299, 3.0) and not window_size_off(None, 1, 3.0)


def test_which_thresholds_the_yaml_sets() -> None:
    assert DriftConfig().explicit("x", "numeric") == (False, False)
    assert DriftConfig(null_rate_threshold=0.05).explicit("x", "numeric") == (False, True)
    assert DriftConfig(numeric_threshold=0.2).explicit("x", "numeric") == (True, False)
    assert DriftConfig(numeric_threshold=0.2).explicit("c", "categorical") == (False, False)
    assert DriftConfig(threshold=0.3).explicit("c", "categorical") == (True, True)
    cfg = DriftConfig(numeric_threshold=0.2, columns={"x": {"method": "psi"}, "y": {"null_rate_threshold": 0.1}})
    assert cfg.explicit("x", "numeric") == (False, False)  # its own method: the model-level threshold is not its
    assert cfg.explicit("y", "numeric") == (True, True)


def _stores_infinity(engine: Engine) -> None:
    if not capabilities(engine.dialect).stores_infinity:
        pytest.skip(f"{engine.dialect.name} cannot store an infinity")


def test_an_infinite_training_value_leaves_the_learned_thresholds_finite_and_the_baseline_readable(
    engine: Engine, tmp_path: Path
) -> None:
    _stores_infinity(engine)
    t, _ = _tables(engine)
    with engine.begin() as conn:
        conn.execute(t.update().where(t.c.id == 5).values(x=math.inf))
    model = model_config(features={"numeric": ["x"], "categorical": ["c"]}, training={"timestamp_column": "ts"})
    tables = resolve_tables(model, engine)
    baseline = with_learned_thresholds(model, engine, tables, derive_baseline(model, engine, tables))
    learned = baseline.learned
    assert learned is not None, baseline.learned_note
    assert learned_not_finite(learned) == []
    path = tmp_path / "baseline.json"
    save_baseline(baseline, path)
    assert load_baseline(path, "m") == baseline


def test_an_infinite_serving_value_does_not_make_the_window_drift(engine: Engine) -> None:
    _stores_infinity(engine)
    t, s = model_tables(engine)
    with engine.begin() as conn:
        conn.execute(t.insert(), _rows(400, T0 - dt.timedelta(days=30), dt.timedelta(hours=1), seed=0))
        conn.execute(s.insert(), _rows(500, T0, dt.timedelta(minutes=2), seed=0))
        conn.execute(s.insert(), [{"id": 500, "ts": T0 + dt.timedelta(hours=1), "x": math.inf, "c": "a", "p": 0.5}])
    model = model_config(features={"numeric": ["x"], "categorical": ["c"]}, drift={"learned": {"enabled": False}})
    tables = resolve_tables(model, engine)
    baseline = derive_baseline(model, engine, tables)
    rows = drift_metrics(engine, model, tables, baseline, Window.of(T0, T0 + dt.timedelta(days=1)))
    (x,) = [m for m in rows if m.column == "x" and m.metric == "wasserstein"]
    assert math.isfinite(x.value) and x.status == "ok", x
    assert x.p_value is not None and x.p_value > 0.01
    assert x.details["n_window"] == 501
