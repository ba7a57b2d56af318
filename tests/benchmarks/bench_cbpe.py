"""Performance estimated before labels arrive (CBPE) against the realized quality, per window.

A binary classifier whose true risk is logistic in two features, and a model whose scores are the
true probabilities made over-confident (so the calibration map has something to correct). The
training table (20,000 labelled rows; 10,000 with --quick) gives the baseline and the calibration map,
exactly as `mlmonitor baseline` derives them; then every window goes through the performance check
(`checks.performance.performance_metrics`, SQL on SQLite) with its labels, which stores each
`estimated_<metric>` and, beside each realized metric, the estimation error. Scenarios:

- `no shift`: serving drawn like training;
- `covariate shift`: the first feature's mean moves up to 1.5 std over the windows, P(y | x) unchanged
  (CBPE's premise holds: the estimate should follow the realized metric);
- `concept drift`: the inputs stay, the true risk's intercept rises up to +1.5 on the logit scale
  over the windows (P(y | x) changed: CBPE cannot see it; the realized quality drops, the estimate not).

Reported per scenario: mean and max |realized - estimated| of accuracy and ROC AUC over the windows,
the change of both from the first to the last window, and the share of windows whose accuracy error is
within 2 x the spread predicted for it (`realized_spread`).
"""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa

from mlmonitor.checks import performance
from mlmonitor.dialect import Double
from mlmonitor.warehouse import resolve_tables
from mlmonitor.window import Window
from tests.factories import model_config

T0 = dt.datetime(2024, 3, 1)
SCENARIOS = ("no shift", "covariate shift", "concept drift")


def _truth(x1: np.ndarray, x2: np.ndarray, drift: float = 0.0) -> np.ndarray:
    return 1 / (1 + np.exp(-(-1.0 + 1.2 * x1 - 0.8 * x2 + drift)))


def _model_score(x1: np.ndarray, x2: np.ndarray) -> np.ndarray:
    """The model: the true (pre-drift) logit, 1.6 x over-confident."""
    return 1 / (1 + np.exp(-1.6 * (-1.0 + 1.2 * x1 - 0.8 * x2)))


def _write(engine: sa.Engine, rng: np.random.Generator, n_train: int, windows: int, size: int, scenario: str) -> None:
    md = sa.MetaData()
    cols = lambda: [sa.Column("x1", Double), sa.Column("x2", Double), sa.Column("p", Double)]  # noqa: E731
    train = sa.Table("t", md, sa.Column("id", sa.Integer), *cols(), sa.Column("y", sa.Integer))
    serve = sa.Table("s", md, sa.Column("id", sa.Integer), sa.Column("ts", sa.DateTime), *cols())
    labels = sa.Table("l", md, sa.Column("id", sa.Integer), sa.Column("y", sa.Integer))
    md.drop_all(engine)
    md.create_all(engine)
    x1, x2 = rng.normal(0, 1, n_train), rng.normal(0, 1, n_train)
    y = (rng.random(n_train) < _truth(x1, x2)).astype(int)
    p = _model_score(x1, x2)
    serving, truth = [], []
    for w in range(windows):
        frac = w / max(windows - 1, 1)
        shift = 1.5 * frac if scenario == "covariate shift" else 0.0
        drift = 1.5 * frac if scenario == "concept drift" else 0.0
        a, b = rng.normal(shift, 1, size), rng.normal(0, 1, size)
        labels_w = (rng.random(size) < _truth(a, b, drift)).astype(int)
        start = T0 + dt.timedelta(days=w)
        for i in range(size):
            ident = w * size + i
            ts = start + dt.timedelta(seconds=int(i * 86_000 / size))
            serving.append({"id": ident, "ts": ts, "x1": float(a[i]), "x2": float(b[i]), "p": 0.0})
            truth.append({"id": ident, "y": int(labels_w[i])})
        ps = _model_score(a, b)
        for i in range(size):
            serving[w * size + i]["p"] = float(ps[i])
    with engine.begin() as conn:
        conn.execute(
            train.insert(),
            [
                {"id": i, "x1": float(x1[i]), "x2": float(x2[i]), "p": float(p[i]), "y": int(y[i])}
                for i in range(n_train)
            ],
        )
        conn.execute(serve.insert(), serving)
        conn.execute(labels.insert(), truth)


def measure(scenario: str, quick: bool, seed: int = 11) -> dict[str, Any]:
    windows, size, n_train = (10, 1000, 10_000) if quick else (20, 2000, 20_000)
    model = model_config(
        serving={"table": "s", "timestamp_column": "ts", "id_column": "id"},
        prediction={"column": "p", "task": "classification"},
        features={"numeric": ["x1", "x2"]},
        labels={"table": "l", "id_column": "id", "label_column": "y"},
        exclude=["y"],
    )
    with tempfile.TemporaryDirectory() as tmp:
        engine = sa.create_engine(f"sqlite:///{Path(tmp) / 'cbpe.db'}")
        _write(engine, np.random.default_rng(seed), n_train, windows, size, scenario)
        tables = resolve_tables(model, engine)
        base = performance.training_performance(engine, model, tables)
        cal = performance.calibration(engine, model, tables)
        assert cal is not None
        errors: dict[str, list[float]] = {"accuracy": [], "roc_auc": []}
        realized: dict[str, list[float]] = {"accuracy": [], "roc_auc": []}
        estimated: dict[str, list[float]] = {"accuracy": [], "roc_auc": []}
        within = 0
        alerts = {"estimated": 0, "realized": 0}
        for w in range(windows):
            window = Window.of(T0 + dt.timedelta(days=w), T0 + dt.timedelta(days=w + 1))
            rows = {
                m.metric: m for m in performance.performance_metrics(engine, model, tables, window, base, None, cal)
            }
            for metric in errors:
                m = rows[metric]
                errors[metric].append(float(m.details["estimation_error"]))
                realized[metric].append(float(m.value or 0))
                estimated[metric].append(float(m.details["estimated"]))
            spread = rows["estimated_accuracy"].details["realized_spread"]
            within += abs(errors["accuracy"][-1]) <= 2 * float(spread)
            alerts["estimated"] += any(m.status != "ok" for k, m in rows.items() if k.startswith("estimated_"))
            alerts["realized"] += any(
                m.status != "ok" for k, m in rows.items() if k in ("accuracy", "roc_auc", "f1", "precision", "recall")
            )
        engine.dispose()
    out: dict[str, Any] = {"scenario": scenario, "windows": windows, "rows_per_window": size}
    for metric in errors:
        e = np.abs(errors[metric])
        out[f"{metric}_mae"] = round(float(e.mean()), 4)
        out[f"{metric}_max_err"] = round(float(e.max()), 4)
        out[f"{metric}_realized_change"] = round(realized[metric][-1] - realized[metric][0], 4)
        out[f"{metric}_estimated_change"] = round(estimated[metric][-1] - estimated[metric][0], 4)
    out["acc_err_within_2_spread"] = round(within / windows, 3)
    out["windows_estimate_alerted"] = alerts["estimated"]
    out["windows_realized_alerted"] = alerts["realized"]
    return out


def main(quick: bool = False) -> dict[str, Any]:
    rows = [measure(s, quick) for s in SCENARIOS]
    by = {r["scenario"]: r for r in rows}
    return {
        "title": "CBPE: estimated vs realized accuracy and ROC AUC per window",
        "rows": rows,
        "goals": {
            "accuracy error <= 0.02 without concept drift": {
                "target": 0.02,
                "met": all(by[s]["accuracy_mae"] <= 0.02 for s in ("no shift", "covariate shift")),
            },
            "ROC AUC error <= 0.02 without concept drift": {
                "target": 0.02,
                "met": all(by[s]["roc_auc_mae"] <= 0.02 for s in ("no shift", "covariate shift")),
            },
        },
    }
