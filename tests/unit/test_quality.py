"""Delayed-label quality: hand-computed metrics, label arrival, baseline comparison without false
alerts, per-check replacement of result rows, and the windows the labels DAG re-scores."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from mlmonitor.checks import performance as quality
from mlmonitor.config import ConfigError, ModelConfig
from mlmonitor.dialect import Double
from mlmonitor.metrics import Metric, RunSummary
from mlmonitor.storage.results import read_metrics, replace_check, write_results
from mlmonitor.warehouse import ModelTables
from mlmonitor.window import Window
from tests.factories import model_config

DAY = dt.datetime(2024, 3, 10, tzinfo=dt.UTC)
WINDOW = Window(DAY, DAY + dt.timedelta(days=1))
NAIVE = DAY.replace(tzinfo=None)


def model(task: str = "classification", **labels: Any) -> ModelConfig:
    return model_config(
        prediction={"task": task},
        labels={"table": "l", "id_column": "id", "label_column": "y", "arrived_at_column": "at", **labels},
    )


def load(
    engine: Engine, preds: list[float], labels: list[Any], arrived: list[dt.datetime] | None = None
) -> ModelTables:
    """Serving rows (all in WINDOW) and, for each non-None label, a labels row."""
    meta = sa.MetaData()
    s = sa.Table("s", meta, sa.Column("id", sa.Integer), sa.Column("ts", sa.DateTime), sa.Column("p", Double))
    t = sa.Table("t", meta, sa.Column("p", Double), sa.Column("y", sa.Integer))
    lab = sa.Table("l", meta, sa.Column("id", sa.Integer), sa.Column("y", Double), sa.Column("at", sa.DateTime))
    meta.drop_all(engine)
    meta.create_all(engine)
    at = arrived or [NAIVE + dt.timedelta(days=1)] * len(labels)
    with engine.begin() as conn:
        conn.execute(
            s.insert(), [{"id": i, "ts": NAIVE + dt.timedelta(seconds=i), "p": p} for i, p in enumerate(preds)]
        )
        rows = [{"id": i, "y": y, "at": a} for i, (y, a) in enumerate(zip(labels, at, strict=True)) if y is not None]
        if rows:
            conn.execute(lab.insert(), rows)
    return ModelTables(t, s, (), ())


def values(metrics: list[Metric]) -> dict[str, float | None]:
    return {m.metric: m.value for m in metrics}


def test_classification_metrics_match_hand_computation(engine: Engine) -> None:
    tables = load(engine, [0.9, 0.8, 0.7, 0.4, 0.3, 0.2], [1, 1, 0, 1, 0, 0])
    got = values(quality.performance_metrics(engine, model(), tables, WINDOW, {}))
    loss = -(math.log(0.9) + math.log(0.8) + math.log(0.3) + math.log(0.4) + math.log(0.7) + math.log(0.8)) / 6
    assert got == pytest.approx(
        {
            "label_coverage": 1.0,
            "accuracy": 4 / 6,
            "precision": 2 / 3,
            "recall": 2 / 3,
            "f1": 2 / 3,
            "roc_auc": 8 / 9,
            "log_loss": loss,
        }
    )


def test_positive_label_and_threshold_are_configurable(engine: Engine) -> None:
    # the score is the probability of class 0
    tables = load(engine, [0.9, 0.8, 0.7, 0.4, 0.3, 0.2], [0, 0, 1, 0, 1, 1])
    got = values(quality.performance_metrics(engine, model(positive_label="0", threshold=0.75), tables, WINDOW, {}))
    assert got["roc_auc"] == pytest.approx(8 / 9) and got["precision"] == 1.0 and got["recall"] == pytest.approx(2 / 3)


def test_regression_metrics_match_hand_computation(engine: Engine) -> None:
    tables = load(engine, [2.0, 4.0, 6.0, 5.0], [1.0, 4.0, 8.0, None])
    got = values(quality.performance_metrics(engine, model("regression"), tables, WINDOW, {}))
    assert got == pytest.approx({"label_coverage": 0.75, "mae": 1.0, "rmse": math.sqrt(5 / 3), "mape": 1.25 / 3})


def test_only_labels_arrived_by_as_of_count(engine: Engine) -> None:
    arrived = [NAIVE + dt.timedelta(days=d) for d in (1, 2, 3, 4)]
    tables = load(engine, [0.9, 0.1, 0.9, 0.1], [1, 0, 1, 0], arrived)
    early = quality.performance_metrics(engine, model(), tables, WINDOW, {}, DAY + dt.timedelta(days=2))
    assert values(early)["label_coverage"] == 0.25
    late = quality.performance_metrics(engine, model(), tables, WINDOW, {}, DAY + dt.timedelta(days=9))
    assert values(late)["label_coverage"] == 1.0
    none = quality.performance_metrics(engine, model(), tables, WINDOW, {}, DAY)
    assert [(m.metric, m.value) for m in none] == [("label_coverage", 0.0)]


def _simulate(engine: Engine, rng: np.random.Generator, n: int, shift: float) -> ModelTables:
    p = rng.beta(2, 5, n)
    y = (rng.random(n) < np.minimum(p + shift, 1.0)).astype(int)
    return load(engine, [float(x) for x in p], [int(v) for v in y])


def test_no_false_alerts_on_calibrated_windows_and_alert_on_concept_drift(engine: Engine) -> None:
    rng = np.random.default_rng(3)
    training = _simulate(engine, rng, 5000, 0.0)
    # the baseline: the same metrics over a large sample of the same process
    with engine.begin() as conn:
        conn.execute(training.training.insert(), [{"p": p, "y": y} for p, y in _pairs(engine)])
    baseline = quality.training_performance(engine, model(positive_label="1"), training)
    assert set(baseline) == set(quality.CLASSIFICATION)
    for _ in range(5):  # small noisy windows of the same process: never an alert
        tables = _simulate(engine, rng, 300, 0.0)
        out = quality.performance_metrics(engine, model(), tables, WINDOW, baseline)
        assert {m.status for m in out} == {"ok"}, [(m.metric, m.value, m.threshold) for m in out if m.status != "ok"]
    drifted = _simulate(engine, rng, 2000, 0.3)
    bad = {
        m.metric for m in quality.performance_metrics(engine, model(), drifted, WINDOW, baseline) if m.status != "ok"
    }
    assert {"accuracy", "log_loss"} <= bad
    few = _simulate(engine, rng, 10, 0.3)  # below min_labels: reported, not judged
    assert {m.status for m in quality.performance_metrics(engine, model(), few, WINDOW, baseline)} == {"ok"}


def _pairs(engine: Engine) -> list[tuple[float, int]]:
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT s.p, l.y FROM s JOIN l ON s.id = l.id")).all()
    return [(float(p), int(y)) for p, y in rows]


def test_configured_expected_values_override_the_training_baseline(engine: Engine) -> None:
    tables = load(engine, [0.9, 0.8, 0.7, 0.4, 0.3, 0.2] * 10, [1, 1, 0, 1, 0, 0] * 10)
    out = {
        m.metric: m
        for m in quality.performance_metrics(
            engine, model(expected={"accuracy": 0.95}), tables, WINDOW, {"accuracy": 0.6}
        )
    }
    assert (out["accuracy"].status, out["accuracy"].details["baseline_source"]) == ("alert", "labels.expected")
    assert out["accuracy"].threshold == pytest.approx(0.95 * 0.9)


def test_roc_auc_counts_ties_as_half() -> None:
    assert quality.roc_auc([(0.5, 1, 2)]) == 0.5
    assert quality.roc_auc([(0.1, 0, 3), (0.9, 2, 2)]) == 1.0
    assert quality.roc_auc([(0.2, 1, 1)]) is None


def test_unknown_expected_metric_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"labels\.expected.*unknown metric"):
        model(expected={"auc": 0.8})


def test_replace_check_keeps_other_checks_and_never_duplicates(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path}/r.db")
    run = RunSummary(
        model="m",
        window_start=WINDOW.start.isoformat(),
        window_end=WINDOW.end.isoformat(),
        rows=10,
        model_versions={},
        status="ok",
        failed_expectations=0,
        drifted_features=0,
    )
    write_results(
        engine,
        run,
        [
            Metric(check="drift", column="x", metric="psi", value=0.01),
            Metric(check="performance", column="", metric="label_coverage", value=0.0),
        ],
        DAY,
    )
    for coverage in (0.5, 1.0):
        rows = [
            Metric(check="performance", column="", metric="label_coverage", value=coverage),
            Metric(check="performance", column="", metric="accuracy", value=0.8),
        ]
        replace_check(engine, "m", WINDOW.start, WINDOW.end, "performance", rows)
    got = sorted((m["check_name"], m["metric"], m["value"]) for m in read_metrics(engine, "m"))
    assert got == [("drift", "psi", 0.01), ("performance", "accuracy", 0.8), ("performance", "label_coverage", 1.0)]
    with pytest.raises(ValueError, match="other checks"):
        replace_check(
            engine,
            "m",
            WINDOW.start,
            WINDOW.end,
            "performance",
            [Metric(check="drift", column="x", metric="psi", value=1.0)],
        )


def test_recent_windows_follow_the_schedule_and_start_date() -> None:
    wins = quality.recent_windows(model(), dt.datetime(2024, 3, 10, tzinfo=dt.UTC), 3)
    assert [(w.start.day, w.end.day) for w in wins] == [(9, 10), (8, 9), (7, 8)]
    assert len(quality.recent_windows(model(), dt.datetime(2024, 3, 10, tzinfo=dt.UTC), 50)) == 9


def test_recent_windows_accept_pendulum_datetimes() -> None:
    import pendulum

    wins = quality.recent_windows(model(), pendulum.datetime(2024, 3, 10, tz="UTC"), 1)
    assert wins == [Window(dt.datetime(2024, 3, 9, tzinfo=dt.UTC), dt.datetime(2024, 3, 10, tzinfo=dt.UTC))]
