"""`make demo`: derive the baseline and monitor every demo day through Airflow, then print a
per-window summary table read back from mlmonitor_runs.

The windows run in-process with `dag.test` (seconds per window, no scheduler or workers), but as the
scheduler would have run them: each is a scheduled run of its data interval (logical date = interval
start, run id `scheduled__<start>`, started when it really started, so durations are natural), and
each task's log lines go to its task log file, so the Airflow UI shows the runs and their logs as a
scheduler-run deployment would.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

from mlmonitor.config import ModelConfig, get_model
from mlmonitor.demo import DAYS, INCIDENTS, START
from mlmonitor.project import default_project
from mlmonitor.storage.results import read_metrics, read_runs
from mlmonitor_airflow.connections import warehouse_engine

EXPECTED = {
    INCIDENTS.version_switch: "model version switch 1.0.0 -> 1.1.0 (mixed versions)",
    INCIDENTS.income_drift_from: "gradual income drift starts (+1.5 %/day)",
    INCIDENTS.region_shift_from: "region 'south' jumps from 20 % to 50 %",
    INCIDENTS.quality_incident: "credit_score null surge + unseen employment_type 'gig_worker'",
    INCIDENTS.latency_regression_from: "latency regression (median x3)",
    INCIDENTS.concept_drift_from: "concept drift: default risk +0.3 (found when the labels arrive)",
}
LABELS_EVERY = 5  # run the labels DAG every 5 days, as its own schedule would


_out = sys.stdout


def say(line: str) -> None:
    """This script's own lines, on the terminal even while fds 1 and 2 go to the log file."""
    print(line, file=_out, flush=True)


def _quiet(log_path: str) -> None:
    """Send everything Airflow and GE print (fds 1 and 2) to a file; keep a handle on the terminal."""
    global _out
    for name in ("airflow", "great_expectations", "sqlalchemy", "py.warnings"):
        logging.getLogger(name).setLevel(logging.ERROR)
    sys.stdout.flush()
    sys.stderr.flush()
    _out = os.fdopen(os.dup(1), "w", buffering=1)
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)


@contextmanager
def scheduled_run(start: dt.datetime, end: dt.datetime) -> Iterator[None]:
    """Make the next `dag.test` create the run the scheduler would create for the data interval
    [start, end): run type scheduled, logical date `start`, run id `scheduled__<start>`, run after
    `end`, started now (dag.test would make a manual run whose start date is its logical date, which
    for a 2024 window shows as a duration of years)."""
    from airflow.models.dagrun import DagRun
    from airflow.sdk import timezone
    from airflow.utils.state import DagRunState
    from airflow.utils.types import DagRunTriggeredByType, DagRunType
    from sqlalchemy import delete

    def create(*, dag: Any, session: Any, conf: dict[str, Any] | None = None, **_: Any) -> Any:
        run_id = DagRun.generate_run_id(run_type=DagRunType.SCHEDULED, logical_date=start, run_after=end)
        session.execute(
            delete(DagRun).where(
                DagRun.dag_id == dag.dag_id, (DagRun.logical_date == start) | (DagRun.run_id == run_id)
            )
        )
        session.commit()
        return dag.create_dagrun(
            run_id=run_id,
            logical_date=start,
            data_interval=(start, end),
            run_after=end,
            conf=conf,
            run_type=DagRunType.SCHEDULED,
            triggered_by=DagRunTriggeredByType.TIMETABLE,
            state=DagRunState.RUNNING,
            start_date=timezone.utcnow(),
            session=session,
        )

    with mock.patch("airflow.models.dagrun.get_or_create_dagrun", create):
        yield


class _TaskLogFile(logging.Handler):
    """Log records as the JSON lines Airflow's task log reader shows (timestamp, level, event, logger)."""

    def __init__(self, path: Path) -> None:
        super().__init__(logging.INFO)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.stream = path.open("a", encoding="utf-8")

    def emit(self, record: logging.LogRecord) -> None:
        line = {
            "timestamp": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(),
            "level": record.levelname.lower(),
            "event": record.getMessage(),
            "logger": record.name,
        }
        self.stream.write(json.dumps(line, default=str) + "\n")
        self.stream.flush()

    def close(self) -> None:
        self.stream.close()
        super().close()


def _log_path(ti: Any) -> Path:
    from airflow.configuration import conf
    from airflow.utils.helpers import parse_template_string, render_template

    _, template = parse_template_string(conf.get("logging", "log_filename_template"))
    assert template is not None
    relative = render_template(template, {"ti": ti, "try_number": ti.try_number}, native=False)
    return Path(str(conf.get("logging", "base_log_folder"))) / str(relative)


@contextmanager
def task_logs() -> Iterator[None]:
    """While dag.test runs tasks in this process, write what each task logs (mlmonitor's summaries of
    what it found) to the task's log file, where the Airflow UI reads it."""
    from airflow.sdk.execution_time import supervisor

    original: Callable[..., Any] = supervisor.run_task_in_process

    def run(ti: Any, task: Any, client: Any = None) -> Any:
        handler = _TaskLogFile(_log_path(ti))
        root = logging.getLogger()
        root.addHandler(handler)
        try:
            return original(ti=ti, task=task, client=client)
        finally:
            root.removeHandler(handler)
            handler.close()

    with mock.patch.object(supervisor, "run_task_in_process", run):
        yield


def replay(bag: Any, days: int, say: Callable[[str], None] = say) -> int:
    """Derive the baseline (a manual run now), then run every demo window as its scheduled run and the
    labels DAG every `LABELS_EVERY` days; 0 when the baseline was derived."""
    with task_logs():
        state = bag.get_dag("mlmonitor_carloan_baseline").test(logical_date=None).state
    if state != "success":
        say(f"baseline DAG ended {state}")
        return 1
    monitor = bag.get_dag("mlmonitor_carloan")
    labels = bag.get_dag("mlmonitor_carloan_labels")
    for day in range(days):
        start = (START + dt.timedelta(days=day)).replace(tzinfo=dt.UTC)
        end = start + dt.timedelta(days=1)
        with scheduled_run(start, end), task_logs():
            run = monitor.test(logical_date=start)
        say(
            f"  window {start:%Y-%m-%d}: dag run {run.state}"
            + ("  (the gate task fails on alerting windows, so the run shows red)" if run.state == "failed" else "")
        )
        if (day + 1) % LABELS_EVERY == 0 or day == days - 1:
            # the labels DAG's run of the same interval: labels arrived by its end
            with scheduled_run(start, end), task_logs():
                run = labels.test(logical_date=start)
            say(
                f"  labels arrived by {end:%Y-%m-%d}: re-scored the last windows, mlmonitor_carloan_labels {run.state}"
                + ("  (quality regressed)" if run.state == "failed" else "")
            )
    return 0


def run(days: int) -> int:
    from airflow.dag_processing.dagbag import DagBag

    log_path = os.path.join(os.environ["AIRFLOW_HOME"], "var", "demo-airflow.log")
    _quiet(log_path)
    say(f"Airflow's own output during the demo goes to {log_path}; task logs are in the Airflow UI")
    bag = DagBag(os.path.join(os.environ["AIRFLOW_HOME"], "dags"))
    if bag.import_errors:
        say(f"DAG import errors: {bag.import_errors}")
        return 2
    say("deriving the suite and drift baseline (mlmonitor_carloan_baseline) ...")
    code = replay(bag, days)
    if code:
        say(f"see {log_path}")
        return code
    report(get_model("carloan"))
    return 0


def report(model: ModelConfig) -> None:
    engine = warehouse_engine(model.warehouse_conn_id)
    runs = sorted(read_runs(engine, model.name), key=lambda r: r["window_start"])
    metrics = read_metrics(engine, model.name)
    latency = {m["window_start"]: m["value"] for m in metrics if m["check_name"] == "health" and m["metric"] == "p95"}
    coverage = {m["window_start"]: m["value"] for m in metrics if m["metric"] == "label_coverage"}
    accuracy = {m["window_start"]: m for m in metrics if m["check_name"] == "performance" and m["metric"] == "accuracy"}
    say(
        f"\n{'day':>3} {'window':10} {'status':8} {'rows':>5} {'versions':14} {'p95 ms':>7} {'labels':>6} "
        f"{'acc':>6}  findings"
    )
    for i, r in enumerate(runs):
        versions = "+".join(sorted(json.loads(r["model_versions"])))
        note = EXPECTED.get(i, "")
        p95 = latency.get(r["window_start"])
        acc = accuracy.get(r["window_start"])
        quality = f"{acc['value']:>6.3f}" if acc else f"{'-':>6}"
        changed = r.get("monitor_status") and r["monitor_status"] != r["status"]
        later = f" (was {r['monitor_status']}: found by the labels DAG)" if changed else ""
        say(
            f"{i:>3} {r['window_start']:%Y-%m-%d} {r['status']:8} {r['rows']:>5} {versions:14} "
            f"{p95 or 0:>7.1f} {coverage.get(r['window_start'], 0):>6.0%} {quality}  {r['message']}{later}"
            + (f"   <= baked in: {note}" if note else "")
        )
    project = default_project()
    say(f"\nresults: tables mlmonitor_runs / mlmonitor_metrics in {engine.url}")
    say(f"Data Docs: {project.docs_dir / 'index.html'}")
    say(f"alerts (no Slack connection configured): {project.alerts_file}")
    say("open the Airflow UI: make ui   (http://127.0.0.1:8080, user admin,")
    say("  password in var/simple_auth_manager_passwords.json); the dashboard is Browse > ML Monitoring")


if __name__ == "__main__":
    sys.exit(run(int(sys.argv[1]) if len(sys.argv) > 1 else DAYS))
