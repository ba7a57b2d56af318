"""The demo's runs look like a scheduler's in Airflow (issue 17, finding 7): each window is a scheduled
run of its data interval (logical date = interval start, run id `scheduled__...`, a duration of
seconds, not "946d"), the baseline a manual run of today, and every task's log file holds the summary
of what it found."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from mlmonitor.demo import START, write_demo

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
DAYS = 2


def test_demo_windows_are_scheduled_runs_of_their_interval_with_task_logs(
    airflow_db: Path, gx_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.configuration import conf
    from airflow.dag_processing.dagbag import DagBag
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    from mlmonitor_airflow.demo_runner import replay

    db = tmp_path / "warehouse.db"
    monkeypatch.setenv("AIRFLOW_CONN_MLMONITOR_WAREHOUSE", json.dumps({"conn_type": "sqlite", "host": str(db)}))
    engine = sa.create_engine(f"sqlite:///{db}")
    write_demo(engine, days=range(DAYS))
    engine.dispose()
    started = dt.datetime.now(dt.UTC)
    lines: list[str] = []
    assert replay(DagBag(str(ROOT / "dags")), DAYS, say=lines.append) == 0
    with create_session() as session:
        runs = {
            r.run_id: r
            for r in session.query(DagRun).filter(DagRun.dag_id == "mlmonitor_carloan", DagRun.start_date >= started)
        }
        baseline = session.query(DagRun).filter(DagRun.dag_id == "mlmonitor_carloan_baseline").all()
    for day in range(DAYS):
        start = (START + dt.timedelta(days=day)).replace(tzinfo=dt.UTC)
        run = runs[f"scheduled__{start + dt.timedelta(days=1):%Y-%m-%dT%H:%M:%S}+00:00"]
        assert str(run.run_type) in ("scheduled", "DagRunType.SCHEDULED")
        assert run.logical_date == run.data_interval_start == start
        assert run.data_interval_end == start + dt.timedelta(days=1)
        assert dt.timedelta(0) < run.end_date - run.start_date < dt.timedelta(minutes=5)
        logs = Path(conf.get("logging", "base_log_folder")) / "dag_id=mlmonitor_carloan" / f"run_id={run.run_id}"
        for task, says in (
            ("stats", "rows, versions"),
            ("validate", "expectations"),
            ("persist", "persisted"),
            ("notify", "posted"),
            ("gate", "window passes"),
        ):
            text = (logs / f"task_id={task}" / "attempt=1.log").read_text()
            assert says in text, (task, text)
            assert json.loads(text.splitlines()[0])["event"], text  # JSON lines, as Airflow's log reader wants
    newest = max(baseline, key=lambda r: r.start_date)
    assert newest.logical_date is None and newest.start_date >= started  # a manual run of now, not of 2024
    assert any("labels arrived by" in line for line in lines)
