"""`make demo`: derive the baseline and monitor every demo day through Airflow (dag.test), then
print a per-window summary table read back from mlmonitor_runs."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import sys

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


def run(days: int) -> int:
    from airflow.dag_processing.dagbag import DagBag

    log_path = os.path.join(os.environ["AIRFLOW_HOME"], "var", "demo-airflow.log")
    _quiet(log_path)
    say(f"Airflow task logs of the demo go to {log_path}")
    bag = DagBag(os.path.join(os.environ["AIRFLOW_HOME"], "dags"))
    if bag.import_errors:
        say(f"DAG import errors: {bag.import_errors}")
        return 2
    say("deriving the suite and drift baseline (mlmonitor_carloan_baseline) ...")
    state = bag.get_dag("mlmonitor_carloan_baseline").test(logical_date=START.replace(tzinfo=dt.UTC)).state
    if state != "success":
        say(f"baseline DAG ended {state}; see {log_path}")
        return 1
    monitor = bag.get_dag("mlmonitor_carloan")
    labels = bag.get_dag("mlmonitor_carloan_labels")
    for day in range(days):
        end = START + dt.timedelta(days=day + 1)
        # dag.test infers the manual data interval that ends at its logical date: [end - 1 day, end)
        run = monitor.test(logical_date=end.replace(tzinfo=dt.UTC))
        say(
            f"  window {end - dt.timedelta(days=1):%Y-%m-%d}: dag run {run.state}"
            + ("  (the gate task fails on alerting windows, so the run shows red)" if run.state == "failed" else "")
        )
        if (day + 1) % LABELS_EVERY == 0 or day == days - 1:
            run = labels.test(logical_date=end.replace(tzinfo=dt.UTC))
            say(
                f"  labels arrived by {end:%Y-%m-%d}: re-scored the last windows, mlmonitor_carloan_labels {run.state}"
                + ("  (quality regressed)" if run.state == "failed" else "")
            )
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
        regressed = "; quality ALERT (labels DAG)" if acc and acc["status"] != "ok" else ""
        say(
            f"{i:>3} {r['window_start']:%Y-%m-%d} {r['status']:8} {r['rows']:>5} {versions:14} "
            f"{p95 or 0:>7.1f} {coverage.get(r['window_start'], 0):>6.0%} {quality}  {r['message']}{regressed}"
            + (f"   <= baked in: {note}" if note else "")
        )
    project = default_project()
    say(f"\nresults: tables mlmonitor_runs / mlmonitor_metrics in {engine.url}")
    say(f"Data Docs: {project.docs_dir / 'index.html'}")
    say(f"alerts (no Slack connection configured): {project.alerts_file}")
    say("open the Airflow UI: make ui   (http://127.0.0.1:8080, user admin,")
    say("  password in var/simple_auth_manager_passwords.json)")


if __name__ == "__main__":
    sys.exit(run(int(sys.argv[1]) if len(sys.argv) > 1 else DAYS))
