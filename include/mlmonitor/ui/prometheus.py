"""The Prometheus text exposition of the results: the latest value of every metric per model and column.

`latest_metric_rows` reads, per (check, column, metric), the row of the most recent window that has
it among the model's newest `LATEST_WINDOWS` windows (bounded in SQL); `exposition` renders rows as
text format 0.0.4. Label values are escaped (backslash, double quote, newline) as the format requires.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from mlmonitor.storage.results import as_dicts, ensure_tables, metrics, runs

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
STATUSES = ("ok", "warning", "alert", "no_data", "error")


LATEST_WINDOWS = 100


def latest_metric_rows(engine: Engine, model: str, windows: int = LATEST_WINDOWS) -> list[dict[str, Any]]:
    """Per (check, column, metric) of `model`: the row of the newest window that has it among the model's
    newest `windows` windows (the labels DAG fills quality rows of recent windows only after the fact).

    Bounded in SQL: the windows are found on the runs table's primary key, then only their metric rows
    are grouped, so a scrape costs the same after years of history."""
    ensure_tables(engine)
    m = metrics
    recent = (
        sa.select(runs.c.window_start)
        .where(runs.c.model == model)
        .order_by(runs.c.window_start.desc())
        .limit(windows)
        .subquery()
    )
    with engine.connect() as conn:
        since = conn.execute(sa.select(sa.func.min(recent.c.window_start))).scalar()
    bounded = [m.c.model == model] + ([m.c.window_start >= since] if since is not None else [])
    key = (m.c.check_name, m.c.column_name, m.c.metric)
    newest = (sa.select(*key, sa.func.max(m.c.window_start).label("latest")).where(*bounded).group_by(*key)).subquery()
    stmt = (
        sa.select(m)
        .join(
            newest,
            sa.and_(
                m.c.check_name == newest.c.check_name,
                m.c.column_name == newest.c.column_name,
                m.c.metric == newest.c.metric,
                m.c.window_start == newest.c.latest,
            ),
        )
        .where(*bounded)
        .order_by(m.c.check_name, m.c.column_name, m.c.metric)
    )
    with engine.connect() as conn:
        return as_dicts(conn.execute(stmt))


def latest_run(engine: Engine, model: str) -> dict[str, Any] | None:
    """The run row of the most recent window of `model`."""
    ensure_tables(engine)
    stmt = sa.select(runs).where(runs.c.model == model).order_by(runs.c.window_start.desc()).limit(1)
    with engine.connect() as conn:
        row = conn.execute(stmt).first()
    return dict(row._mapping) if row else None


def escape_label(value: str) -> str:
    """A label value as the text format wants it: backslash, double quote and newline escaped."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(**labels: str) -> str:
    return "{" + ",".join(f'{k}="{escape_label(v)}"' for k, v in labels.items()) + "}"


def _value(v: float) -> str:
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return repr(float(v))


def _epoch(at: dt.datetime) -> float:
    return (at if at.tzinfo else at.replace(tzinfo=dt.UTC)).timestamp()


_HELP = {
    "mlmonitor_metric_value": "Latest value of a monitoring metric (drift score, statistic, latency, ...)",
    "mlmonitor_metric_threshold": "Threshold the latest value was judged against",
    "mlmonitor_metric_p_value": "Adjusted p-value of the latest drift test",
    "mlmonitor_metric_status": "1 for the status of the latest evaluation of the metric",
    "mlmonitor_metric_window_end_timestamp_seconds": "End of the window the latest value comes from",
    "mlmonitor_window_status": "1 for the status of the latest monitored window of the model",
    "mlmonitor_window_rows": "Serving rows in the latest monitored window",
    "mlmonitor_window_failed_expectations": "Failed expectations in the latest monitored window",
    "mlmonitor_window_drifted_features": "Drifted columns in the latest monitored window",
    "mlmonitor_window_end_timestamp_seconds": "End of the latest monitored window (Unix time)",
}


def exposition(models: Iterable[tuple[str, Mapping[str, Any] | None, Sequence[Mapping[str, Any]]]]) -> str:
    """Text format for (model, latest run row or None, latest metric rows) triples."""
    samples: dict[str, list[str]] = {name: [] for name in _HELP}

    def add(name: str, labels: dict[str, str], value: float | None) -> None:
        if value is not None:
            samples[name].append(f"{name}{_labels(**labels)} {_value(float(value))}")

    for model, run, rows in models:
        if run is not None:
            for status in STATUSES:
                add("mlmonitor_window_status", {"model": model, "status": status}, float(run["status"] == status))
            add("mlmonitor_window_rows", {"model": model}, run["rows"])
            add("mlmonitor_window_failed_expectations", {"model": model}, run["failed_expectations"])
            add("mlmonitor_window_drifted_features", {"model": model}, run["drifted_features"])
            add("mlmonitor_window_end_timestamp_seconds", {"model": model}, _epoch(run["window_end"]))
        for r in rows:
            labels = {
                "model": model,
                "check": str(r["check_name"]),
                "column": str(r["column_name"] or ""),
                "metric": str(r["metric"]),
            }
            add("mlmonitor_metric_value", labels, r["value"])
            add("mlmonitor_metric_threshold", labels, r["threshold"])
            add("mlmonitor_metric_p_value", labels, r["p_value"])
            add("mlmonitor_metric_status", {**labels, "status": str(r["status"])}, 1.0)
            add("mlmonitor_metric_window_end_timestamp_seconds", labels, _epoch(r["window_end"]))
    out = []
    for name, lines in samples.items():
        if lines:
            out += [f"# HELP {name} {_HELP[name]}", f"# TYPE {name} gauge", *lines]
    return "\n".join(out) + "\n"
