"""The labels DAG end to end with dag.test(): late labels re-score earlier windows, replacing only
their performance rows, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from mlmonitor.demo import INCIDENTS, START, write_demo
from mlmonitor.storage.results import read_metrics, read_runs
from tests.warehouses import WAREHOUSES

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
DRIFT = INCIDENTS.concept_drift_from


def _day(day: int) -> dt.datetime:
    return (START + dt.timedelta(days=day)).replace(tzinfo=dt.UTC)


@pytest.fixture(params=WAREHOUSES)
def warehouse(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, airflow_db: Path, gx_root: Path
) -> Iterator[sa.Engine]:
    db = request.getfixturevalue(f"{request.param}_database")
    monkeypatch.setenv("AIRFLOW_CONN_MLMONITOR_WAREHOUSE", db["conn"])
    engine = sa.create_engine(db["url"])
    write_demo(engine, days=[0, 1, DRIFT, DRIFT + 1])
    yield engine
    engine.dispose()


def _perf(engine: sa.Engine, day: int) -> dict[str, dict[str, Any]]:
    return {m["metric"]: m for m in read_metrics(engine, "carloan", _day(day)) if m["check_name"] == "performance"}


def test_labels_dag_rescores_windows_as_labels_arrive(warehouse: sa.Engine, gx_root: Path) -> None:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(str(ROOT / "dags"))
    assert not bag.import_errors, bag.import_errors
    assert bag.get_dag("mlmonitor_carloan_baseline").test(logical_date=_day(0)).state == "success"
    baseline = json.loads((gx_root / "baselines" / "carloan.json").read_text())
    assert 0.7 < baseline["performance"]["accuracy"] < 0.9 and 0.6 < baseline["performance"]["roc_auc"] < 0.9

    # the monitor run of day 0 sees no labels yet (they arrive 1 to 7 days later)
    assert bag.get_dag("mlmonitor_carloan").test(logical_date=_day(1)).state == "success"
    assert _perf(warehouse, 0)["label_coverage"]["value"] == 0.0
    others = [m for m in read_metrics(warehouse, "carloan", _day(0)) if m["check_name"] != "performance"]
    assert {m["status"] for m in others} == {"ok"}, [m for m in others if m["status"] != "ok"]

    labels = bag.get_dag("mlmonitor_carloan_labels")
    # three days later part of day 0's labels have arrived
    assert labels.test(logical_date=_day(3), run_conf={"lookback_windows": 3}).state == "success"
    partial = _perf(warehouse, 0)
    assert 0.0 < partial["label_coverage"]["value"] < 1.0
    assert {m["status"] for m in partial.values()} == {"ok"}

    # the concept drift window is monitored before its labels arrive: nothing to see yet
    bag.get_dag("mlmonitor_carloan").test(logical_date=_day(DRIFT + 1))
    (monitored,) = [r for r in read_runs(warehouse, "carloan") if r["window_start"] == _day(DRIFT).replace(tzinfo=None)]
    assert monitored["monitor_status"] == monitored["status"] and "quality" not in monitored["message"]

    # later every label is in: day 0 and 1 healthy, the concept drift windows alert, the run is red
    run = labels.test(logical_date=_day(DRIFT + 9), run_conf={"lookback_windows": DRIFT + 9})
    assert run.state == "failed"
    # no Slack connection: the gate's failure, naming the windows and their dashboard entries, went to
    # the local alerts file
    alerts = (gx_root / "gx/uncommitted/alerts.jsonl").read_text()
    assert "prediction quality regressed" in alerts and "2024-04-22" in alerts
    assert "/mlmonitor/models/carloan/windows/20240422T0000" in alerts
    # and the window's status says so, keeping what the monitor run said
    (rescored,) = [r for r in read_runs(warehouse, "carloan") if r["window_start"] == _day(DRIFT).replace(tzinfo=None)]
    assert rescored["status"] == "alert" and rescored["monitor_status"] == monitored["status"]
    assert rescored["rescored_at"] is not None and "quality regressed: accuracy" in rescored["message"]
    for day in (0, 1):
        perf = _perf(warehouse, day)
        assert perf["label_coverage"]["value"] == 1.0
        assert {m["status"] for m in perf.values()} == {"ok"}, {k: m["value"] for k, m in perf.items()}
    drifted = _perf(warehouse, DRIFT)
    assert drifted["label_coverage"]["value"] == 1.0
    assert drifted["accuracy"]["status"] == "alert" and drifted["log_loss"]["status"] == "alert"

    # the other checks' rows of day 0 are untouched, and a re-run never duplicates
    after = [m for m in read_metrics(warehouse, "carloan", _day(0)) if m["check_name"] != "performance"]
    assert len(after) == len(others)
    count = len(read_metrics(warehouse, "carloan"))
    labels.test(logical_date=_day(DRIFT + 9), run_conf={"lookback_windows": DRIFT + 9})
    assert len(read_metrics(warehouse, "carloan")) == count
