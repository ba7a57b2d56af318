"""The late-window notice: a window that was not monitored by its deadline (scheduler down, queue
stuck, warehouse late). Decided by the Airflow layer's deadline callback, which first checks that
the window really has no row in `mlmonitor_runs`.
"""

from __future__ import annotations

import datetime as dt

from mlmonitor.alerting.message import Alert, Paragraph, code, plain, strong, when


def late_alert(
    *,
    model: str,
    dag_id: str,
    run_id: str,
    window_start: dt.datetime,
    window_end: dt.datetime,
    deadline: dt.datetime,
    run_state: str,
    run_url: str | None,
) -> Alert:
    """The notice that the window [window_start, window_end) of `model` has no results at `deadline`."""
    lines = (
        (strong("No results for this window yet."), plain(" Its monitoring run has not finished: is the scheduler")),
        (plain("running, are tasks stuck in the queue (pools, workers), or is the warehouse late?"),),
        (strong("Run"), plain(" "), code(run_id), plain(f" of {dag_id}, state {run_state}")),
    )
    return Alert(
        kind="late",
        tone="failure",
        label="LATE",
        title=f"{model}: window not monitored",
        facts=(
            ("Model", model),
            ("Window (UTC)", f"{when(window_start)} → {when(window_end)}"),
            ("Deadline (UTC)", when(deadline)),
        ),
        blocks=(Paragraph(lines=lines),),
        links=(("Airflow run", run_url),) if run_url else (),
        model=model,
        severity="critical",
        window_start=window_start.isoformat(),
        status="late",
    )
