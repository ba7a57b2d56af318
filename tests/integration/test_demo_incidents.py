"""The demo's baked-in health incidents are caught by the core (the same steps as the monitor DAG):
the version switch (day 20) and the latency regression (day 50), and nothing on the days around them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from mlmonitor import pipeline
from mlmonitor.checks.registry import window_checks
from mlmonitor.config import get_model
from mlmonitor.demo import DAYS as DEMO_DAYS
from mlmonitor.demo import INCIDENTS, START, write_demo
from mlmonitor.metrics import Metric
from mlmonitor.project import default_project
from mlmonitor.window import Window
from tests.warehouses import WAREHOUSES

pytestmark = pytest.mark.integration
SWITCH, SLOW = INCIDENTS.version_switch, INCIDENTS.latency_regression_from
DAYS = [SWITCH - 1, SWITCH, SWITCH + 1, SLOW - 3, SLOW - 2, SLOW - 1, SLOW]
# the model and operations health checks
HEALTH = ("versions", "version_change", "staleness", "stability", "operations", "skew", "schema_changes")


@pytest.fixture(params=WAREHOUSES)
def engine(request: pytest.FixtureRequest, gx_root: Path) -> Iterator[sa.Engine]:
    db = request.getfixturevalue(f"{request.param}_database")
    eng = sa.create_engine(db["url"])
    write_demo(eng, days=DAYS)
    yield eng
    eng.dispose()


def test_version_switch_and_latency_regression_are_caught(engine: sa.Engine) -> None:
    model = get_model("carloan")
    project = default_project()
    pipeline.derive(model, engine, project, "1.24.1")
    flagged: dict[int, set[str]] = {}
    changes: dict[int, list[str]] = {}
    for day in DAYS:
        window = Window.of(START + dt.timedelta(days=day), START + dt.timedelta(days=day + 1))
        p = pipeline.prepare(model, engine, project, window)
        context = pipeline.window_context(model, engine, engine, p, window)
        metrics: list[Metric] = [m for check in window_checks() if check.name in HEALTH for m in check.run(context)]
        pipeline.persist(model, engine, window, p.rows, p.versions, metrics, None, None, window.end)
        flagged[day] = {f"{m.column}:{m.metric}" for m in metrics if m.status != "ok"}
        changes.update((day, m.details["new"]) for m in metrics if m.metric == "version_change")
    assert flagged[SWITCH] == {"model_version:share:1.0.0", "model_version:share:1.1.0"}
    assert flagged[SLOW] == {"latency_ms:p95"}
    # 1.1.0 is in allowed_model_versions: its first window is recorded (and marked), not flagged
    assert changes == {SWITCH: ["1.1.0"]}
    assert all(not flagged[d] for d in DAYS if d not in (SWITCH, SLOW)), flagged


def test_history_anomalies_and_estimated_quality_stay_quiet_on_the_demo_quiet_days(
    sqlite_database: dict[str, str], gx_root: Path
) -> None:
    """All 60 demo days through every window check in order (SQLite): the anomaly check flags nothing
    before the first drift incident (day 30), and finds the NULL surge (day 45) and the latency regression
    (day 50 on: a regression is never learned as normal, as flagged windows never train the history)."""
    engine = sa.create_engine(sqlite_database["url"])
    write_demo(engine)
    model = get_model("carloan")
    project = default_project()
    pipeline.derive(model, engine, project, "1.24.1")
    flagged: dict[int, set[str]] = {}
    estimated: dict[int, set[str]] = {}
    for day in range(DEMO_DAYS):
        window = Window.of(START + dt.timedelta(days=day), START + dt.timedelta(days=day + 1))
        p = pipeline.prepare(model, engine, project, window)
        metrics = pipeline.analyse(model, engine, engine, p, window)
        pipeline.persist(model, engine, window, p.rows, p.versions, metrics, None, None, window.end)
        flagged[day] = {f"{m.column}:{m.metric}" for m in metrics if m.check == "anomaly" and m.status != "ok"}
        estimated[day] = {m.metric for m in metrics if m.metric.startswith("estimated_") and m.status != "ok"}
    engine.dispose()
    assert all(not flagged[d] for d in range(INCIDENTS.income_drift_from)), flagged
    assert "credit_score:null_share" in flagged[INCIDENTS.quality_incident]
    assert "latency_ms:latency_p95" in flagged[SLOW]
    # quality estimated before the labels (CBPE) stays at the training level: the demo's covariate shifts
    # do not move it, and its concept drift (day 52) is invisible to it (only labels show that)
    assert all(not e for e in estimated.values()), estimated
