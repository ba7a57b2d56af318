"""Who watches the watcher: the deadline callback of the monitor DAGs (Airflow deadline alerts).

`alerts.late_after_hours` gives `mlmonitor_<model>` a `DeadlineAlert`: the scheduler marks the
deadline missed when a run has not succeeded `late_after_hours` after its data interval ends, and
runs `report_late` on the executor (a `SyncCallback`). The callback reads the results table first:
a window that has its row was monitored (a run that failed its gate because the window alerts is not
late), anything else goes to the critical route (Slack or the local file, and its notifiers).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from typing import Any

from mlmonitor.alerting.destinations import LocalFile, deliver
from mlmonitor.alerting.late import late_alert
from mlmonitor.config import get_model
from mlmonitor.errors import ConfigError
from mlmonitor.project import default_project
from mlmonitor.storage.results import read_runs
from mlmonitor.window import as_utc

log = logging.getLogger(__name__)


def _moment(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    return as_utc(value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value)))


def monitored(rows: Sequence[dict[str, Any]], start: dt.datetime, end: dt.datetime) -> list[dict[str, Any]]:
    """The run rows of exactly the interval [start, end): an ad-hoc run, or another window that only
    starts with it (an ad-hoc [start, start + 2h)), does not make the scheduled window monitored."""
    return [
        r for r in rows if not r.get("adhoc") and as_utc(r["window_start"]) == start and as_utc(r["window_end"]) == end
    ]


def report_late(model: str, context: dict[str, Any] | None = None) -> str:
    """Tell the model's critical route that the run's window has no results by its deadline.

    `context` is what the scheduler hands a deadline callback: `dag_run` (the run as the REST API
    shows it) and `deadline` (`deadline_time`)."""
    from mlmonitor.ui.links import airflow_run_url
    from mlmonitor_airflow.connections import warehouse_engine
    from mlmonitor_airflow.notifiers import destinations_for
    from mlmonitor_airflow.slack import destination_for
    from mlmonitor_airflow.tasks import _ui_base

    run = (context or {}).get("dag_run") or {}
    start, end = _moment(run.get("data_interval_start")), _moment(run.get("data_interval_end"))
    deadline = _moment(((context or {}).get("deadline") or {}).get("deadline_time")) or dt.datetime.now(dt.UTC)
    if start is None or end is None:
        message = f"{model}: run {run.get('dag_run_id')} has no data interval; nothing to check"
        log.warning("%s", message)
        return message
    config = get_model(model)
    engine = warehouse_engine(config.results_conn_id or config.warehouse_conn_id)
    rows = monitored(read_runs(engine, model, 100, since=start, before=end), start, end)
    if rows:
        message = f"{model} {start:%Y-%m-%d %H:%M}: monitored (status {rows[0]['status']}); not late"
        log.info("%s", message)
        return message
    dag_id = str(run.get("dag_id") or f"mlmonitor_{model}")
    run_id = str(run.get("dag_run_id") or run.get("run_id") or "?")  # the REST API calls it dag_run_id
    base = _ui_base()
    alert = late_alert(
        model=model,
        dag_id=dag_id,
        run_id=run_id,
        window_start=start,
        window_end=end,
        deadline=deadline,
        run_state=str(run.get("state") or "?"),
        run_url=airflow_run_url(base, dag_id, run_id) if base else None,
    )
    local = LocalFile(default_project().alerts_file, config.alerts.top)
    try:
        destination = destinations_for(model, config.alerts, "critical")
    except ConfigError as exc:  # a misconfigured notifier must not hide that the window is late
        log.error("late notice goes to Slack only: %s", exc)
        destination = destination_for(config.alerts, "critical")
    where = deliver(alert, destination, fallback=local)
    message = f"{model} {start:%Y-%m-%d %H:%M}: not monitored by {deadline:%Y-%m-%d %H:%M}; told {where}"
    log.warning("%s", message)
    return message
