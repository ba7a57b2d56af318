"""The retention DAG with dag.test(): off by default, and with [mlmonitor] retention_days it removes
the old windows' results rows, Data Docs pages, validation results and alerts, keeping recent ones."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from mlmonitor.project import GxProject
from mlmonitor.storage.results import read_runs
from tests.unit.test_retention import _validation, _window
from tests.warehouses import WAREHOUSES

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
RUN_DAY = dt.datetime(2024, 6, 1, tzinfo=dt.UTC)
OLD, RECENT = RUN_DAY - dt.timedelta(days=100), RUN_DAY - dt.timedelta(days=3)


@pytest.fixture(params=WAREHOUSES)
def warehouse(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, airflow_db: Path) -> sa.Engine:
    db = request.getfixturevalue(f"{request.param}_database")
    monkeypatch.setenv("AIRFLOW_CONN_MLMONITOR_WAREHOUSE", db["conn"])
    engine = sa.create_engine(db["url"])
    yield engine
    engine.dispose()


def _retention_dag() -> Any:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(str(ROOT / "dags"))
    assert not bag.import_errors, bag.import_errors
    return bag.get_dag("mlmonitor_retention")


def _state(run: Any) -> dict[str, Any]:
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        ti = session.query(TaskInstance).filter_by(dag_id=run.dag_id, run_id=run.run_id, task_id="prune").one()
        value = XComModel.get_many(key="return_value", run_id=run.run_id, dag_ids=run.dag_id, task_ids="prune")
        payload = session.execute(value.with_only_columns(XComModel.value)).scalar_one_or_none()
        return {"state": str(ti.state), "payload": payload if not isinstance(payload, str) else json.loads(payload)}


def test_retention_dag_removes_old_windows_and_alerts(
    warehouse: sa.Engine, gx_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = GxProject(gx_root)
    for start in (OLD, RECENT):
        _window(warehouse, "carloan", start)
    old_files = _validation(project, "carloan", OLD)
    recent_files = _validation(project, "carloan", RECENT)
    project.alerts_file.parent.mkdir(parents=True, exist_ok=True)
    project.alerts_file.write_text(
        "".join(json.dumps({"at": t.isoformat(), "model": "carloan"}) + "\n" for t in (OLD, RECENT))
    )

    off = _retention_dag().test(logical_date=RUN_DAY)  # retention_days unset: everything is kept
    assert off.state == "success" and len(read_runs(warehouse, "carloan")) == 2
    assert all(p.exists() for p in old_files)

    monkeypatch.setenv("AIRFLOW__MLMONITOR__RETENTION_DAYS", "30")
    run = _retention_dag().test(logical_date=RUN_DAY + dt.timedelta(days=1))
    assert run.state == "success"
    assert [r["window_start"] for r in read_runs(warehouse, "carloan")] == [RECENT.replace(tzinfo=None)]
    assert not any(p.exists() for p in old_files) and all(p.exists() for p in recent_files)
    assert [json.loads(line)["at"] for line in project.alerts_file.read_text().splitlines()] == [RECENT.isoformat()]
    payload = _state(run)["payload"]
    assert payload["retention_days"] == 30 and payload["alerts"] == 1
    assert payload["models"] == [{"model": "carloan", "runs": 1, "metrics": 1, "validations": 1}]
