"""Who watches the watcher, through the real scheduler path: a LocalExecutor Airflow on PostgreSQL
(api-server, scheduler and dag-processor as subprocesses) whose monitor runs cannot start (the default
pool has no slot), so their deadlines (`alerts.late_after_hours`, Airflow deadline alerts) pass. The
scheduler runs the deadline callback on the executor: the window without results is reported to the
recording Slack server, the one that already has its results row is not."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from mlmonitor.metrics import RunSummary
from mlmonitor.storage.results import write_results
from tests.benchmarks.bench_load import _free_port, _wait, airflow_components, airflow_env

pytestmark = [pytest.mark.integration, pytest.mark.postgres]
MODEL = """\
name: lateone
training: {table: carloan_training}
serving: {table: carloan_serving_logs, timestamp_column: timestamp, id_column: id}
prediction: {column: y_pred_proba, task: classification}
schedule: "@daily"
start_date: 2024-03-01
alerts: {late_after_hours: 2, retries: 0}
"""
TRIGGER = r"""
import datetime as dt, sys
from airflow.api.common.trigger_dag import trigger_dag
from airflow.utils.types import DagRunTriggeredByType
for day in sys.argv[1:]:
    # as the scheduler makes the run of a window: logical date = start, run after = end
    start = dt.datetime.fromisoformat(day).replace(tzinfo=dt.timezone.utc)
    trigger_dag("mlmonitor_lateone", triggered_by=DagRunTriggeredByType.CLI, run_id=f"late_{day}",
                logical_date=start, run_after=start + dt.timedelta(days=1))
"""
OURS = """SELECT count(*) FROM deadline d JOIN dag_run r ON r.id = d.dagrun_id JOIN callback c ON c.id = d.callback_id
WHERE r.run_id LIKE 'late_%' AND d.missed AND c.state IN ({states})"""
MISSING, MONITORED = dt.datetime(2024, 4, 1, tzinfo=dt.UTC), dt.datetime(2024, 4, 2, tzinfo=dt.UTC)


def test_a_window_not_monitored_by_its_deadline_is_reported(
    postgres_database: dict[str, str], tmp_path: Path, slack_server: Any
) -> None:
    # Airflow's metadata database: PostgreSQL (LocalExecutor), skipped only outside CI when it is down
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "lateone.yaml").write_text(MODEL)
    warehouse_path = tmp_path / "warehouse.db"
    warehouse = sa.create_engine(f"sqlite:///{warehouse_path}")
    # the second window has its results row: its run is stuck too, but the window was monitored
    summary = RunSummary(
        model="lateone",
        window_start=MONITORED.isoformat(),
        window_end=(MONITORED + dt.timedelta(days=1)).isoformat(),
        status="alert",
        rows=10,
        model_versions={},
        failed_expectations=1,
        drifted_features=0,
        docs_path=None,
        airflow_run_id="earlier",
        message="one expectation failed",
    )
    write_results(warehouse, summary, [], MONITORED)
    metadata_url = postgres_database["url"]
    env = airflow_env(tmp_path, metadata_url, metadata_url, _free_port())
    env["AIRFLOW_CONN_MLMONITOR_WAREHOUSE"] = json.dumps({"conn_type": "sqlite", "host": str(warehouse_path)})
    env["AIRFLOW_CONN_MLMONITOR_SLACK"] = slack_server.webhook_connection()
    for command in (["db", "migrate"], ["pools", "set", "default_pool", "0", "no slot: runs stay queued"]):
        done = subprocess.run([sys.executable, "-m", "airflow", *command], env=env, capture_output=True)
        assert done.returncode == 0, done.stderr.decode()[-3000:]
    meta = sa.create_engine(metadata_url)

    def scalar(sql: str) -> Any:
        with meta.connect() as conn:
            return conn.execute(sa.text(sql)).scalar()

    with airflow_components(env, tmp_path):
        _wait(
            "the parsed, unpaused monitor DAG with its deadline",
            lambda: scalar("SELECT count(*) FROM dag WHERE dag_id = 'mlmonitor_lateone' AND NOT is_paused") == 1,
            600,
            tmp_path,
        )
        subprocess.run(
            [sys.executable, "-c", TRIGGER, MISSING.date().isoformat(), MONITORED.date().isoformat()],
            env=env,
            check=True,
            capture_output=True,
        )
        _wait(
            "both deadline callbacks to finish",
            lambda: scalar(OURS.format(states="'success', 'failed'")) == 2,
            600,
            tmp_path,
        )
        succeeded = scalar(OURS.format(states="'success'"))
        runs = scalar("SELECT string_agg(state, ',') FROM dag_run WHERE run_id LIKE 'late_%'")
    meta.dispose()
    warehouse.dispose()
    assert succeeded == 2
    assert set(runs.split(",")) <= {"queued", "running"}, runs  # never started: no pool slot
    # only the window without results (the scheduler may also have created the run of the latest
    # interval on unpausing the DAG: it is late too when its deadline has passed, and reported)
    ours = [b for b in slack_server.bodies() if "2024-04" in b["blocks"][1]["fields"][1]["text"]]
    assert len(ours) == 1, [b["blocks"][1]["fields"] for b in slack_server.bodies()]
    late = ours[0]
    blocks = late["blocks"]
    assert blocks[0]["text"]["text"] == "💥 LATE · lateone: window not monitored"
    fields = [f["text"] for f in blocks[1]["fields"]]
    assert fields == [
        "*Model*\nlateone",
        "*Window (UTC)*\n2024-04-01 00:00 → 2024-04-02 00:00",
        "*Deadline (UTC)*\n2024-04-02 02:00",
    ]
    assert "`late_2024-04-01`" in blocks[2]["text"]["text"]
