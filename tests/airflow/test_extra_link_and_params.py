"""dag.test on SQLite: the validate task's Data Docs extra link, the drift_threshold trigger param, and a
window given in the trigger form recorded as ad hoc."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from mlmonitor.demo import INCIDENTS, START, write_demo
from mlmonitor.storage.results import read_metrics, read_runs
from mlmonitor.ui.links import docs_url

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
DAY = INCIDENTS.quality_incident


def _day(day: int) -> dt.datetime:
    return (START + dt.timedelta(days=day)).replace(tzinfo=dt.UTC)


def _xcom(dag_id: str, run_id: str, task_id: str, key: str) -> Any:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        value = session.execute(
            XComModel.get_many(key=key, run_id=run_id, dag_ids=dag_id, task_ids=task_id).with_only_columns(
                XComModel.value
            )
        ).scalar_one()
    if isinstance(value, str):  # stored JSON-encoded by some backends, decoded by the JSON column type by others
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def test_extra_link_and_threshold_override(
    airflow_db: Path, gx_root: Path, sqlite_database: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.setenv("AIRFLOW_CONN_MLMONITOR_WAREHOUSE", sqlite_database["conn"])
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "https://airflow.example.com/")
    engine = sa.create_engine(sqlite_database["url"])
    write_demo(engine, days=[DAY])
    bag = DagBag(str(ROOT / "dags"))
    baseline = bag.get_dag("mlmonitor_carloan_baseline")
    assert baseline.test(logical_date=_day(0)).state == "success"

    run = bag.get_dag("mlmonitor_carloan").test(logical_date=_day(DAY + 1), run_conf={"drift_threshold": 50.0})
    drift = [m for m in read_metrics(engine, "carloan") if m["check_name"] == "drift" and m["column_name"]]
    assert drift and {m["threshold"] for m in drift} == {50.0}
    assert all(m["status"] == "ok" for m in drift)  # no PSI reaches 50: the override was applied
    row = read_runs(engine, "carloan")[0]
    assert row["drifted_features"] == 0 and row["failed_expectations"] == 2

    link = _xcom("mlmonitor_carloan", run.run_id, "validate", "_link_DataDocsLink")
    assert link == docs_url("https://airflow.example.com", row["docs_path"])
    assert link.startswith("https://airflow.example.com/mlmonitor/docs/validations/carloan/")
    assert (gx_root / "gx/uncommitted/data_docs/local_site" / row["docs_path"]).is_file()

    # two hours of the incident day from the trigger form: recorded (and alerted) as an ad-hoc window
    start = _day(DAY)
    form = {"window_start": start.isoformat(), "window_end": (start + dt.timedelta(hours=2)).isoformat()}
    assert bag.get_dag("mlmonitor_carloan").test(logical_date=_day(DAY + 2), run_conf=form).state == "failed"
    with engine.connect() as conn:
        runs = conn.execute(sa.text("select window_end, adhoc from mlmonitor_runs order by window_end")).all()
        sent = conn.execute(sa.text("select window_end, adhoc from mlmonitor_alerts order by window_end")).all()
    assert [(str(end)[:16], bool(adhoc)) for end, adhoc in runs] == [
        (str(start + dt.timedelta(hours=2))[:16], True),
        (str(_day(DAY + 1))[:16], False),
    ]
    assert [bool(adhoc) for _, adhoc in sent] == [True, False]
    engine.dispose()
