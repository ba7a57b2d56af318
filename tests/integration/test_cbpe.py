"""Performance estimated before labels arrive (CBPE) on SQLite, PostgreSQL and MariaDB: the calibration
map learned on the labelled training rows, estimated quality without a single label (alerting when a
window's predictions lose their confidence), and the estimation error stored beside each realized metric
once the labels arrive (the labels DAG's re-score)."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from mlmonitor import pipeline
from mlmonitor.checks import performance
from mlmonitor.config import ModelConfig
from mlmonitor.metrics import Metric
from mlmonitor.project import GxProject
from mlmonitor.storage.results import read_metrics
from mlmonitor.warehouse import resolve_tables
from mlmonitor.window import Window
from tests.benchmarks.bench_cbpe import T0, _write
from tests.factories import model_config

pytestmark = pytest.mark.integration
DAY = [Window.of(T0 + dt.timedelta(days=d), T0 + dt.timedelta(days=d + 1)) for d in range(3)]


def cbpe_model() -> ModelConfig:
    return model_config(
        name="cbpe",
        serving={"table": "s", "timestamp_column": "ts", "id_column": "id"},
        prediction={"column": "p", "task": "classification"},
        features={"numeric": ["x1", "x2"]},
        labels={"table": "l", "id_column": "id", "label_column": "y"},
        exclude=["y"],
    )


def by_metric(rows: list[Metric]) -> dict[str, Metric]:
    return {m.metric: m for m in rows}


def _unconfident_window(engine: Engine, day: int, n: int = 400) -> Window:
    """A window whose predictions all sit near 0.5 (inputs on the model's decision boundary)."""
    serve = sa.Table("s", sa.MetaData(), autoload_with=engine)
    rng = np.random.default_rng(3)
    x2 = rng.normal(0, 1, n)
    x1 = (1.0 + 0.8 * x2) / 1.2 + rng.normal(0, 0.05, n)
    p = 1 / (1 + np.exp(-1.6 * (-1.0 + 1.2 * x1 - 0.8 * x2)))
    start = T0 + dt.timedelta(days=day)
    with engine.begin() as conn:
        conn.execute(
            serve.insert(),
            [
                {
                    "id": 10**6 + i,
                    "ts": start + dt.timedelta(seconds=i),
                    "x1": float(x1[i]),
                    "x2": float(x2[i]),
                    "p": float(p[i]),
                }
                for i in range(n)
            ],
        )
    return Window.of(start, start + dt.timedelta(days=1))


def test_estimates_without_labels_alert_on_lost_confidence_and_match_realized(engine: Engine) -> None:
    model = cbpe_model()
    _write(engine, np.random.default_rng(5), 4000, 3, 600, "covariate shift")
    tables = resolve_tables(model, engine)
    base = performance.training_performance(engine, model, tables)
    cal = performance.calibration(engine, model, tables)
    assert cal is not None and cal.labeled == 4000 and len(cal.curve) == cal.bins == 50
    assert all(a <= b for a, b in zip(cal.curve, cal.curve[1:], strict=False))  # monotone
    with engine.begin() as conn:  # the labels have not arrived yet
        held = [dict(r._mapping) for r in conn.execute(sa.text("SELECT id, y FROM l"))]
        conn.execute(sa.text("DELETE FROM l"))
    rows = by_metric(performance.performance_metrics(engine, model, tables, DAY[0], base, None, cal))
    assert rows["label_coverage"].value == 0.0 and "accuracy" not in rows
    est = rows["estimated_accuracy"]
    assert est.status == "ok" and est.value == pytest.approx(base["accuracy"], abs=0.05)
    assert est.details["rows"] == 600 and est.details["method"].startswith("CBPE")
    assert set(rows) == {
        "label_coverage",
        *(f"estimated_{m}" for m in ("accuracy", "precision", "recall", "f1", "roc_auc")),
    }
    # predictions near 0.5: the expected accuracy falls to about a coin's, alerting before any label
    unsure = by_metric(
        performance.performance_metrics(engine, model, tables, _unconfident_window(engine, 9), base, None, cal)
    )
    assert unsure["estimated_accuracy"].status == "alert" and unsure["estimated_accuracy"].value < 0.6
    assert unsure["estimated_accuracy"].threshold == pytest.approx(base["accuracy"] * 0.9)
    with engine.begin() as conn:  # the labels arrive
        conn.execute(sa.table("l", sa.column("id"), sa.column("y")).insert(), held)
    for window in DAY:
        rows = by_metric(performance.performance_metrics(engine, model, tables, window, base, None, cal))
        for metric in ("accuracy", "roc_auc"):
            d = rows[metric].details
            assert d["estimated"] == rows[f"estimated_{metric}"].value
            assert d["estimation_error"] == pytest.approx(rows[metric].value - d["estimated"])
            assert abs(d["estimation_error"]) < 0.06


def test_baseline_keeps_the_calibration_and_the_labels_dag_stores_the_error(
    sqlite_database: dict[str, str], project: GxProject
) -> None:
    engine = sa.create_engine(sqlite_database["url"])
    model = cbpe_model()
    _write(engine, np.random.default_rng(5), 4000, 3, 600, "concept drift")
    pipeline.derive(model, engine, project, "1.24.1")
    stored = json.loads(project.baseline_path("cbpe").read_text())
    assert stored["calibration"]["bins"] == 50 and stored["calibration"]["labeled"] == 4000
    for window in DAY:  # monitor runs: the labels table is there, so realized and estimated rows
        p = pipeline.prepare(model, engine, project, window)
        metrics = pipeline.analyse(model, engine, engine, p, window)
        pipeline.persist(model, engine, window, p.rows, p.versions, metrics, None, None, window.end)
    pipeline.rescore(model, engine, engine, project, DAY[-1].end, 3, now=DAY[-1].end)
    rows = {
        (m["window_start"], m["metric"]): m for m in read_metrics(engine, "cbpe") if m["check_name"] == "performance"
    }
    last = DAY[-1].start.replace(tzinfo=None)
    d = json.loads(rows[(last, "accuracy")]["details"])
    # concept drift (the true risk rose): the realized accuracy fell, the estimate could not see it
    assert d["estimation_error"] < -0.05
    assert rows[(last, "estimated_accuracy")]["status"] == "ok"
    engine.dispose()
