"""The results tables `mlmonitor_runs` and `mlmonitor_metrics`: created on first use, written
idempotently per (model, window) in one transaction, so re-running a window replaces its rows."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from mlmonitor.dialect import Double, LongText, UtcDateTime, locked_transaction
from mlmonitor.metrics import Metric, RunSummary
from mlmonitor.warehouse import unavailable_as_error
from mlmonitor.window import utc_naive

metadata = sa.MetaData()

runs = sa.Table(
    "mlmonitor_runs",
    metadata,
    sa.Column("model", sa.String(128), primary_key=True),
    sa.Column("window_start", UtcDateTime, primary_key=True, comment="UTC"),
    sa.Column("window_end", UtcDateTime, primary_key=True, comment="UTC"),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("rows", sa.BigInteger(), nullable=False),
    sa.Column("model_versions", LongText, nullable=False, comment="JSON object version -> rows"),
    sa.Column("failed_expectations", sa.Integer(), nullable=False),
    sa.Column("drifted_features", sa.Integer(), nullable=False),
    sa.Column("docs_path", LongText),
    sa.Column("airflow_run_id", sa.String(250)),
    sa.Column("message", LongText, nullable=False),
    sa.Column("computed_at", UtcDateTime, nullable=False, comment="UTC"),
)

metrics = sa.Table(
    "mlmonitor_metrics",
    metadata,
    sa.Column("model", sa.String(128), primary_key=True),
    sa.Column("window_start", UtcDateTime, primary_key=True),
    sa.Column("window_end", UtcDateTime, primary_key=True),
    sa.Column("check_name", sa.String(16), primary_key=True),
    sa.Column("column_name", sa.String(128), primary_key=True),
    sa.Column("metric", sa.String(128), primary_key=True),
    sa.Column("value", Double),
    sa.Column("threshold", Double),
    sa.Column("p_value", Double),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("details", LongText, nullable=False, comment="JSON"),
)


def create_missing(tables: sa.MetaData, engine: Engine) -> None:
    """Create the tables of `tables` that do not exist yet (safe to call from every run)."""
    try:
        tables.create_all(engine, checkfirst=True)
    except sa.exc.DatabaseError:
        # another worker created them between our check and our CREATE
        tables.create_all(engine, checkfirst=True)


def ensure_tables(engine: Engine) -> None:
    """Create the results tables if they do not exist (safe to call from every run)."""
    create_missing(metadata, engine)


def _naive(iso: str) -> dt.datetime:
    return utc_naive(dt.datetime.fromisoformat(iso))


def _finite(x: float | None) -> float | None:
    return x if x is None or (x == x and abs(x) != float("inf")) else None


def write_results(engine: Engine, run: RunSummary, rows: Sequence[Metric], now: dt.datetime) -> None:
    """Replace the run row and metric rows of (model, window) atomically."""
    ensure_tables(engine)
    start, end = _naive(run.window_start), _naive(run.window_end)
    key: dict[str, Any] = {"model": run.model, "window_start": start, "window_end": end}
    run_row = {
        **key,
        "status": run.status,
        "rows": run.rows,
        "model_versions": json.dumps(run.model_versions, sort_keys=True),
        "failed_expectations": run.failed_expectations,
        "drifted_features": run.drifted_features,
        "docs_path": run.docs_path,
        "airflow_run_id": run.airflow_run_id,
        "message": run.message,
        "computed_at": utc_naive(now),
    }
    metric_rows = [_metric_row(key, m) for m in rows]
    _check_unique_keys(run.model, metric_rows)
    token = f"mlmonitor:{run.model}:{start.isoformat()}:{end.isoformat()}"
    for attempt in range(_WRITE_ATTEMPTS):
        try:
            # writers of the same (model, window) queue on an advisory lock where the warehouse has
            # one, so concurrent re-runs of a window end with exactly one set of rows (last wins)
            with unavailable_as_error(engine, "results database"), locked_transaction(engine, token) as conn:
                _delete(conn, key)
                conn.execute(runs.insert(), [run_row])
                if metric_rows:
                    conn.execute(metrics.insert(), metric_rows)
            return
        except sa.exc.IntegrityError:
            # a concurrent writer of the same window committed between our DELETE and INSERT
            # (dialects without advisory locks): the next attempt's DELETE sees and replaces its rows
            if attempt == _WRITE_ATTEMPTS - 1:
                raise


_WRITE_ATTEMPTS = 3


def _check_unique_keys(model: str, rows: Sequence[dict[str, Any]]) -> None:
    seen: set[tuple[str, str, str]] = set()
    for row in rows:
        k = (row["check_name"], row["column_name"], row["metric"])
        if k in seen:
            raise ValueError(
                f"{model}: metric {k} appears twice in one window; each (check, column, metric) is one row"
            )
        seen.add(k)


def _metric_row(key: dict[str, Any], m: Metric) -> dict[str, Any]:
    return {
        **key,
        "check_name": m.check,
        "column_name": m.column,
        "metric": m.metric,
        "value": _finite(m.value),
        "threshold": _finite(m.threshold),
        "p_value": _finite(m.p_value),
        "status": m.status,
        "details": json.dumps(m.details, sort_keys=True, default=str),
    }


def _delete(conn: Connection, key: dict[str, Any]) -> None:
    for table in (metrics, runs):
        conn.execute(table.delete().where(*(table.c[k] == v for k, v in key.items())))


def read_runs(engine: Engine, model: str, limit: int = 1000) -> list[dict[str, Any]]:
    """The most recent run rows of a model, newest first."""
    ensure_tables(engine)
    stmt = sa.select(runs).where(runs.c.model == model).order_by(runs.c.window_start.desc()).limit(limit)
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(stmt)]


def read_metrics(engine: Engine, model: str, window_start: dt.datetime | None = None) -> list[dict[str, Any]]:
    """Metric rows of a model (of one window when `window_start` is given)."""
    ensure_tables(engine)
    stmt = sa.select(metrics).where(metrics.c.model == model)
    if window_start is not None:
        stmt = stmt.where(metrics.c.window_start == utc_naive(window_start))
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(stmt.order_by(metrics.c.window_start))]


def trailing_values(
    engine: Engine, model: str, check: str, column: str, metric: str, before: dt.datetime, limit: int
) -> list[float]:
    """Values of one metric in the `limit` most recent healthy (`ok`) windows before `before`."""
    ensure_tables(engine)
    m = metrics
    stmt = (
        sa.select(m.c.value)
        .where(
            m.c.model == model,
            m.c.check_name == check,
            m.c.column_name == column,
            m.c.metric == metric,
            m.c.status == "ok",
            m.c.value.isnot(None),
            m.c.window_start < utc_naive(before),
        )
        .order_by(m.c.window_start.desc())
        .limit(limit)
    )
    with engine.connect() as conn:
        return [float(v) for v in conn.scalars(stmt)]


def replace_check(
    engine: Engine, model: str, window_start: dt.datetime, window_end: dt.datetime, check: str, rows: Sequence[Metric]
) -> None:
    """Replace the metric rows of one check of one window in one transaction, leaving the other
    checks' rows alone (the labels DAG re-scores `performance` this way)."""
    ensure_tables(engine)
    key = {"model": model, "window_start": utc_naive(window_start), "window_end": utc_naive(window_end)}
    wrong = [m.check for m in rows if m.check != check]
    if wrong:
        raise ValueError(f"replace_check({check!r}) got rows of other checks: {sorted(set(wrong))}")
    with engine.begin() as conn:
        conn.execute(metrics.delete().where(*(metrics.c[k] == v for k, v in {**key, "check_name": check}.items())))
        if rows:
            conn.execute(metrics.insert(), [_metric_row(key, m) for m in rows])


def previous_metric(
    engine: Engine, model: str, check: str, column: str, metric: str, before: dt.datetime
) -> dict[str, Any] | None:
    """The newest row of one metric in a window before `before` (any status), details parsed."""
    ensure_tables(engine)
    m = metrics
    stmt = (
        sa.select(m.c.window_start, m.c.value, m.c.status, m.c.details)
        .where(
            m.c.model == model,
            m.c.check_name == check,
            m.c.column_name == column,
            m.c.metric == metric,
            m.c.window_start < utc_naive(before),
        )
        .order_by(m.c.window_start.desc())
        .limit(1)
    )
    with engine.connect() as conn:
        row = conn.execute(stmt).first()
    if row is None:
        return None
    return {
        "window_start": row.window_start,
        "value": row.value,
        "status": row.status,
        "details": json.loads(row.details),
    }
