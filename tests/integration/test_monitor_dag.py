"""The monitor and baseline DAGs end to end with dag.test() on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from mlmonitor.demo import INCIDENTS, START, write_demo
from mlmonitor.storage.results import read_metrics, read_runs
from tests.warehouses import WAREHOUSES

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
CLEAN, CLEAN2, INCIDENT = 0, 1, INCIDENTS.quality_incident


def _day(day: int) -> dt.datetime:
    return (START + dt.timedelta(days=day)).replace(tzinfo=dt.UTC)


def _dags() -> Any:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(str(ROOT / "dags"))
    assert not bag.import_errors, bag.import_errors
    return bag


def _monitor(bag: Any, day: int, conf: dict[str, Any] | None = None) -> Any:
    # dag.test infers the manual data interval ending at the logical date: [day, day + 1)
    return bag.get_dag("mlmonitor_carloan").test(logical_date=_day(day + 1), run_conf=conf)


def _runs(engine: sa.Engine) -> dict[dt.datetime, dict[str, Any]]:
    return {r["window_start"]: r for r in read_runs(engine, "carloan")}


@pytest.fixture(params=WAREHOUSES)
def warehouse(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, airflow_db: Path, gx_root: Path
) -> sa.Engine:
    db = request.getfixturevalue(f"{request.param}_database")
    monkeypatch.setenv("AIRFLOW_CONN_MLMONITOR_WAREHOUSE", db["conn"])
    engine = sa.create_engine(db["url"])
    write_demo(engine, days=[CLEAN, CLEAN2, INCIDENT])
    yield engine
    engine.dispose()


def test_monitor_dag_end_to_end(warehouse: sa.Engine, gx_root: Path) -> None:
    bag = _dags()
    assert bag.get_dag("mlmonitor_carloan_baseline").test(logical_date=_day(0)).state == "success"
    suite = json.loads((gx_root / "gx" / "expectations" / "carloan.json").read_text())
    assert len(suite["expectations"]) > 20
    assert (gx_root / "baselines" / "carloan.json").exists()

    # two clean windows from the data interval: green runs, every expectation passes
    for day in (CLEAN, CLEAN2):
        assert _monitor(bag, day).state == "success"
    runs = _runs(warehouse)
    clean = runs[_day(CLEAN).replace(tzinfo=None)]
    assert clean["status"] == "ok" and clean["rows"] > 1000 and clean["failed_expectations"] == 0
    assert json.loads(clean["model_versions"]) == {"1.0.0": clean["rows"]}
    assert clean["docs_path"] and (gx_root / "gx/uncommitted/data_docs/local_site" / clean["docs_path"]).exists()
    metrics = read_metrics(warehouse, "carloan", _day(CLEAN))
    checks = {m["check_name"] for m in metrics}
    assert {"validation", "drift", "stats", "health"} <= checks
    assert all(m["status"] == "ok" for m in metrics if m["check_name"] in {"validation", "drift"})

    # the incident day: the run completes, persists, and shows red with exactly the broken expectations
    assert _monitor(bag, INCIDENT).state == "failed"
    bad = _runs(warehouse)[_day(INCIDENT).replace(tzinfo=None)]
    assert bad["status"] == "alert"
    failed = {
        (m["metric"], m["column_name"])
        for m in read_metrics(warehouse, "carloan", _day(INCIDENT))
        if m["check_name"] == "validation" and m["status"] != "ok"
    }
    assert failed == {
        ("expect_column_values_to_not_be_null", "credit_score"),
        ("expect_column_values_to_be_in_set", "employment_type"),
    }
    drifted = {
        m["column_name"]
        for m in read_metrics(warehouse, "carloan", _day(INCIDENT))
        if m["check_name"] == "drift" and m["column_name"] and m["status"] != "ok"
    }
    assert {"credit_score", "employment_type"} <= drifted
    alerts = [json.loads(line) for line in (gx_root / "gx/uncommitted/alerts.jsonl").read_text().splitlines()]
    assert [a["status"] for a in alerts] == ["alert"]
    assert "gig_worker" in alerts[0]["text"] and "credit_score" in alerts[0]["text"]

    # a rerun of a window replaces its rows: same counts, no duplicates
    before = len(read_metrics(warehouse, "carloan", _day(CLEAN)))
    assert _monitor(bag, CLEAN).state == "success"
    assert len(read_metrics(warehouse, "carloan", _day(CLEAN))) == before
    assert len(_runs(warehouse)) == 3


def test_trigger_params_replace_the_data_interval(warehouse: sa.Engine, gx_root: Path) -> None:
    bag = _dags()
    assert bag.get_dag("mlmonitor_carloan_baseline").test(logical_date=_day(0)).state == "success"
    conf = {
        "window_start": _day(CLEAN2).isoformat(),
        "window_end": _day(CLEAN2 + 1).isoformat(),
        "notify": False,
        "columns": ["income", "region"],
    }
    run = _monitor(bag, CLEAN, conf)
    assert run.state == "success"
    runs = _runs(warehouse)
    assert list(runs) == [_day(CLEAN2).replace(tzinfo=None)]
    assert runs[_day(CLEAN2).replace(tzinfo=None)]["airflow_run_id"] == run.run_id
    drift_cols = {m["column_name"] for m in read_metrics(warehouse, "carloan") if m["check_name"] == "drift"}
    assert drift_cols == {"income", "region", "y_pred_proba", ""}

    # an empty window is recorded as no_data, never a silent pass
    # (dag.test keeps the previous run's conf in the DAG's params, so every conf here is complete)
    empty = {
        "window_start": "2023-01-01T00:00:00+00:00",
        "window_end": "2023-01-02T00:00:00+00:00",
        "notify": True,
        "columns": [],
    }
    assert _monitor(bag, CLEAN, empty).state == "success"
    row = _runs(warehouse)[dt.datetime(2023, 1, 1)]
    assert (row["status"], row["rows"]) == ("no_data", 0)
    alerts = (gx_root / "gx/uncommitted/alerts.jsonl").read_text()
    assert "no_data" in alerts

    # a bad trigger param fails the run with a message naming it
    bad = {**empty, "window_start": "2024-03-05T00:00:00+00:00", "window_end": "2024-03-01T00:00:00+00:00"}
    assert _monitor(bag, CLEAN, bad).state == "failed"
    assert dt.datetime(2024, 3, 5) not in _runs(warehouse)


def _derive_state(run: Any) -> str | None:
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        ti = session.query(TaskInstance).filter_by(dag_id=run.dag_id, run_id=run.run_id, task_id="derive").one()
        return str(ti.state) if ti.state else None


def test_baseline_dag_re_derives_only_when_the_training_data_changed(warehouse: sa.Engine, gx_root: Path) -> None:
    dag = _dags().get_dag("mlmonitor_carloan_baseline")
    check = {"only_if_changed": True}
    first = dag.test(logical_date=_day(0), run_conf=check)
    assert (first.state, _derive_state(first)) == ("success", "success")  # no baseline yet
    stored = json.loads((gx_root / "baselines" / "carloan.json").read_text())["fingerprint"]
    suite = json.loads((gx_root / "gx" / "expectations" / "carloan.json").read_text())
    assert suite["meta"]["mlmonitor"]["fingerprint"] == stored
    assert stored["rows"] > 0 and stored["max_timestamp"] and len(stored["content_hash"]) == 64

    unchanged = dag.test(logical_date=_day(1), run_conf=check)
    assert (unchanged.state, _derive_state(unchanged)) == ("success", "skipped")

    with warehouse.begin() as conn:
        conn.execute(sa.text("UPDATE carloan_training SET income = income * 1.01"))
    changed = dag.test(logical_date=_day(2), run_conf=check)
    assert _derive_state(changed) == "success"
    assert json.loads((gx_root / "baselines" / "carloan.json").read_text())["fingerprint"] != stored

    # a manual run without the box ticked re-derives at once (a fresh DAG: dag.test keeps earlier conf)
    fresh = _dags().get_dag("mlmonitor_carloan_baseline")
    forced = fresh.test(logical_date=_day(3), run_conf={"only_if_changed": False})
    assert _derive_state(forced) == "success"


def test_baseline_dag_fails_on_an_empty_training_table(warehouse: sa.Engine, gx_root: Path) -> None:
    """An empty training table used to give a baseline (and a green DAG) after which every window alerted."""
    with warehouse.begin() as conn:
        conn.execute(sa.text("DELETE FROM carloan_training"))
    run = _dags().get_dag("mlmonitor_carloan_baseline").test(logical_date=_day(0))
    assert (run.state, _derive_state(run)) == ("failed", "failed")
    assert not (gx_root / "baselines" / "carloan.json").exists()
