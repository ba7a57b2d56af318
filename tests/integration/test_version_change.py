"""A model that switches cleanly from one version to another between two windows (no window serves
both, no `allowed_model_versions`) is reported as a version change, old -> new, through the whole
pipeline on SQLite, PostgreSQL and MariaDB; the dashboard marks the new version's first window."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from mlmonitor.project import GxProject
from mlmonitor.storage.results import read_metrics, read_runs
from mlmonitor.ui.dashboard import load_model, render_model
from mlmonitor.ui.findings import window_findings
from mlmonitor.window import Window
from tests.badinput import test_bad_input as matrix  # the tiny model and its table loader

pytestmark = pytest.mark.integration
T0 = matrix.T0
SECOND = T0 + dt.timedelta(days=1)  # the window the new version starts in, as stored (naive UTC)
DAYS = [Window.of(T0 + dt.timedelta(days=d), T0 + dt.timedelta(days=d + 1)) for d in range(3)]


def _switching(old: str, new: str) -> list[dict[str, Any]]:
    """Day 0 serves `old` only, days 1 and 2 serve `new` only."""
    rows = []
    for d, w in enumerate(DAYS):
        for r in matrix.serving_rows(start=w.start):
            rows.append({**r, "id": r["id"] + 1000 * d, "version": old if d == 0 else new})
    return rows


def _monitor_all(warehouse: Engine, project: GxProject, **overrides: Any) -> list[dict[str, Any]]:
    matrix.load(warehouse, serving=_switching("1.0.0", "2.0.0"))
    model = matrix.derive(warehouse, project, matrix.tiny_model(**overrides))
    for w in DAYS:
        matrix.monitor(warehouse, model, w)
    return [m for m in read_metrics(warehouse, "tiny") if m["metric"] == "version_change"]


def test_clean_switch_is_a_version_change_old_to_new(engine: Engine, project: GxProject) -> None:
    rows = _monitor_all(engine, project)
    # the first window has nothing to compare with; the third serves what the second did
    assert [(m["window_start"], m["status"]) for m in rows] == [(SECOND, "warning")]
    (row,) = rows
    assert row["column_name"] == "version" and row["value"] == 1.0
    runs = {r["window_start"]: r for r in read_runs(engine, "tiny")}
    assert runs[SECOND]["status"] == "warning"
    assert "version_change(version: 1.0.0 -> 2.0.0)" in runs[SECOND]["message"]
    assert runs[SECOND + dt.timedelta(days=1)]["status"] == "ok"
    (finding,) = [f for f in window_findings([row]) if f.topic == "model versions"]
    assert finding.title == "model version changed"
    assert finding.detail.startswith("1.0.0 -> 2.0.0 (first window of 2.0.0; not in allowed_model_versions: 2.0.0")
    view = load_model(engine, "tiny", "")
    marked = {w.start: w.new_versions for w in view.windows if w.new_versions}
    assert marked == {SECOND: ("2.0.0",)}
    assert '<mark class="new-version" title="first window of 2.0.0">new: 2.0.0</mark>' in render_model(view)


def test_severity_is_configurable_and_an_allowed_version_is_only_marked(engine: Engine, project: GxProject) -> None:
    serving = {**matrix.tiny_model().serving.model_dump(), "allowed_model_versions": ["1.0.0", "2.0.0"]}
    rows = _monitor_all(engine, project, serving=serving)
    assert [(m["window_start"], m["status"]) for m in rows] == [(SECOND, "ok")]
    assert load_model(engine, "tiny", "").windows[1].new_versions == ("2.0.0",)
    rows = _monitor_all(engine, project, health={"version_change": "alert"})
    assert [(m["window_start"], m["status"]) for m in rows] == [(SECOND, "alert")]
