"""The results tables `mlmonitor_runs` and `mlmonitor_metrics`: created on first use, written
idempotently per (model, window) in one transaction, so re-running a window replaces its rows."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from mlmonitor.dialect import Double, LongText, UtcDateTime, locked_transaction
from mlmonitor.metrics import Metric, RunSummary, Status
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
    # the status the monitor run gave: `status` differs when a later re-score (labels DAG) changed it
    sa.Column("monitor_status", sa.String(16)),
    sa.Column("rescored_at", UtcDateTime, comment="UTC; when the labels DAG last re-scored the window"),
    # a window from the trigger form's params that is not a schedule interval: left out of trailing history
    sa.Column("adhoc", sa.Boolean()),
    # the Data Docs tab finds a run's window by its Airflow run id
    sa.Index("ix_mlmonitor_runs_run_id", "model", "airflow_run_id"),
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
    """Create the results tables if they do not exist, and add the columns and indexes later versions
    introduced to tables an older version created (safe to call from every run)."""
    create_missing(metadata, engine)
    key = engine.url.render_as_string(hide_password=True)
    if key not in _upgraded:
        upgrade(engine)
        _upgraded.add(key)


_upgraded: set[str] = set()  # databases checked by this process


def upgrade(engine: Engine) -> list[str]:
    """Add missing nullable columns (ALTER TABLE ... ADD COLUMN) and missing indexes of the results tables;
    returns what was added. Rows are never rewritten: new columns start NULL."""
    added: list[str] = []
    inspector = sa.inspect(engine)
    for table in metadata.sorted_tables:
        have = {c["name"] for c in inspector.get_columns(table.name, schema=table.schema)}
        indexes = {i["name"] for i in inspector.get_indexes(table.name, schema=table.schema)}
        with engine.begin() as conn:
            for col in table.columns:
                if col.name not in have and col.nullable:
                    kind = col.type.compile(dialect=engine.dialect)
                    name = engine.dialect.identifier_preparer.format_table(table)
                    conn.execute(sa.text(f"ALTER TABLE {name} ADD COLUMN {col.name} {kind}"))
                    added.append(f"{table.name}.{col.name}")
        for index in table.indexes:
            if index.name not in indexes:
                try:
                    index.create(engine)
                except sa.exc.DatabaseError:  # another process created it first
                    continue
                added.append(str(index.name))
    return added


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
        "monitor_status": run.status,
        "rescored_at": None,
        "adhoc": run.adhoc,
    }
    metric_rows = [_metric_row(key, m) for m in rows]
    _check_unique_keys(run.model, metric_rows)
    token = _window_token(run.model, start, end)
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


def _window_token(model: str, start: dt.datetime, end: dt.datetime) -> str:
    """What writers of one (model, window) lock on (the monitor run and the labels DAG's re-score)."""
    return f"mlmonitor:{model}:{start.isoformat()}:{end.isoformat()}"


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


def as_dicts(result: sa.CursorResult[Any]) -> list[dict[str, Any]]:
    """Result rows as plain dicts (the column names zipped once: ~3x faster than a mapping per row)."""
    keys = list(result.keys())
    return [dict(zip(keys, row, strict=True)) for row in result]


def read_runs(
    engine: Engine,
    model: str,
    limit: int = 1000,
    *,
    since: dt.datetime | None = None,
    before: dt.datetime | None = None,
    oldest_first: bool = False,
) -> list[dict[str, Any]]:
    """At most `limit` run rows of a model, windows starting in [since, before) when given: the newest
    ones, newest first (or the oldest ones, oldest first); bounded in SQL by the primary key."""
    ensure_tables(engine)
    stmt = sa.select(runs).where(runs.c.model == model)
    if since is not None:
        stmt = stmt.where(runs.c.window_start >= utc_naive(since))
    if before is not None:
        stmt = stmt.where(runs.c.window_start < utc_naive(before))
    order = runs.c.window_start.asc() if oldest_first else runs.c.window_start.desc()
    stmt = stmt.order_by(order).limit(limit)
    with engine.connect() as conn:
        return as_dicts(conn.execute(stmt))


def read_details(
    engine: Engine, model: str, keys: Sequence[tuple[dt.datetime, str, str, str]]
) -> dict[tuple[Any, ...], str]:
    """The stored details of some metric rows, by (window_start, check, column, metric)."""
    if not keys:
        return {}
    ensure_tables(engine)
    m = metrics
    match = sa.or_(
        *(
            sa.and_(m.c.window_start == utc_naive(w), m.c.check_name == c, m.c.column_name == col, m.c.metric == met)
            for w, c, col, met in keys
        )
    )
    stmt = sa.select(m.c.window_start, m.c.check_name, m.c.column_name, m.c.metric, m.c.details).where(
        m.c.model == model, match
    )
    with engine.connect() as conn:
        return {(r.window_start, r.check_name, r.column_name, r.metric): r.details for r in conn.execute(stmt)}


def find_run(engine: Engine, model: str, airflow_run_id: str) -> dict[str, Any] | None:
    """The run row an Airflow run wrote (the newest window when a run wrote several), by index."""
    ensure_tables(engine)
    stmt = (
        sa.select(runs)
        .where(runs.c.model == model, runs.c.airflow_run_id == airflow_run_id)
        .order_by(runs.c.window_start.desc())
        .limit(1)
    )
    with engine.connect() as conn:
        row = conn.execute(stmt).first()
    return dict(row._mapping) if row else None


DETAILS_ALWAYS = ("stats", "performance")  # checks whose ok rows carry what charts draw (baselines)
DETAILS_ALWAYS_METRICS = ("version_change",)  # metrics whose ok rows carry what pages mark (a version's first window)


def read_metrics(
    engine: Engine,
    model: str,
    window_start: dt.datetime | None = None,
    *,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    flagged_details: bool = False,
    ok_rows: Mapping[str, Sequence[str] | None] | None = None,
    scheduled_only: bool = False,
) -> list[dict[str, Any]]:
    """Metric rows of a model, oldest window first: of one window when `window_start` is given, else of the
    windows starting in [since, until] (each bound optional), bounded in SQL by the primary key.

    With `flagged_details`, `details` is read only for rows that are not ok and rows of `DETAILS_ALWAYS`
    (others get '{}'); with `ok_rows` (check -> its metrics, None for all), rows that are ok are read only
    for those checks and metrics. A long history's pages need what went wrong and what they draw, not
    every row. With `scheduled_only`, only the rows of scheduled windows (`scheduled_run`: not ad-hoc ones)."""
    ensure_tables(engine)
    columns: list[Any] = list(metrics.c)
    if flagged_details:
        needed = sa.or_(
            metrics.c.status != "ok",
            metrics.c.check_name.in_(DETAILS_ALWAYS),
            metrics.c.metric.in_(DETAILS_ALWAYS_METRICS),
        )
        columns[columns.index(metrics.c.details)] = sa.case((needed, metrics.c.details), else_="{}").label("details")
    stmt = sa.select(*columns).where(metrics.c.model == model)
    if scheduled_only:
        stmt = stmt.select_from(metrics.join(runs, scheduled_run(metrics)))
    if ok_rows is not None:
        kept = [
            sa.and_(metrics.c.check_name == check, metrics.c.metric.in_(names) if names is not None else sa.true())
            for check, names in ok_rows.items()
        ]
        stmt = stmt.where(sa.or_(metrics.c.status != "ok", *kept))
    if window_start is not None:
        stmt = stmt.where(metrics.c.window_start == utc_naive(window_start))
    if since is not None:
        stmt = stmt.where(metrics.c.window_start >= utc_naive(since))
    if until is not None:
        stmt = stmt.where(metrics.c.window_start <= utc_naive(until))
    with engine.connect() as conn:
        return as_dicts(conn.execute(stmt.order_by(metrics.c.window_start)))


def scheduled_run(m: sa.Table) -> sa.ColumnElement[bool]:
    """Join condition from metric rows to their run row, when that run is not an ad-hoc window (NULL:
    written before `adhoc` existed, a scheduled window)."""
    return sa.and_(
        runs.c.model == m.c.model,
        runs.c.window_start == m.c.window_start,
        runs.c.window_end == m.c.window_end,
        sa.or_(runs.c.adhoc.is_(None), runs.c.adhoc == sa.false()),
    )


def trailing_values(
    engine: Engine, model: str, check: str, column: str, metric: str, before: dt.datetime, limit: int
) -> list[float]:
    """Values of one metric in the `limit` most recent healthy (`ok`) scheduled windows before `before`
    (ad-hoc windows are not history: `scheduled_run`)."""
    ensure_tables(engine)
    m = metrics
    stmt = (
        sa.select(m.c.value)
        .select_from(m.join(runs, scheduled_run(m)))
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


def healthy_history(
    engine: Engine,
    model: str,
    check: str,
    metric_names: Sequence[str],
    since: dt.datetime,
    before: dt.datetime,
    limit: int,
) -> list[tuple[dt.datetime, str, str, float]]:
    """(window_start, column, metric, value) of the `ok` rows of some metrics of one check in windows
    starting in [since, before), newest first, at most `limit` rows: a range read on the primary key.
    Ad-hoc windows are not history (`scheduled_run`)."""
    ensure_tables(engine)
    m = metrics
    stmt = (
        sa.select(m.c.window_start, m.c.column_name, m.c.metric, m.c.value)
        .select_from(m.join(runs, scheduled_run(m)))
        .where(
            m.c.model == model,
            m.c.window_start >= utc_naive(since),
            m.c.window_start < utc_naive(before),
            m.c.check_name == check,
            m.c.metric.in_(list(metric_names)),
            m.c.status == "ok",
            m.c.value.isnot(None),
        )
        .order_by(m.c.window_start.desc())
        .limit(limit)
    )
    with engine.connect() as conn:
        return [(r.window_start, str(r.column_name or ""), str(r.metric), float(r.value)) for r in conn.execute(stmt)]


def metric_of(row: Mapping[str, Any]) -> Metric:
    """A stored metric row as the `Metric` the checks produced (details parsed)."""
    details = row.get("details")
    return Metric(
        check=str(row["check_name"]),
        column=str(row["column_name"] or ""),
        metric=str(row["metric"]),
        value=row.get("value"),
        status=row["status"],
        threshold=row.get("threshold"),
        p_value=row.get("p_value"),
        details=json.loads(details) if isinstance(details, str) else dict(details or {}),
    )


Restatus = Callable[[Mapping[str, Any], Sequence[Metric]], tuple[Status, str]]


def replace_check(
    engine: Engine,
    model: str,
    window_start: dt.datetime,
    window_end: dt.datetime,
    check: str,
    rows: Sequence[Metric],
    *,
    restatus: Restatus | None = None,
    now: dt.datetime | None = None,
) -> tuple[Status, Status] | None:
    """Replace the metric rows of one check of one window in one transaction, leaving the other
    checks' rows alone (the labels DAG re-scores `performance` this way).

    With `restatus`, the window's run row (when there is one) takes the status and message `restatus`
    computes from the run row and all the window's metric rows, and `rescored_at` = `now`, in the same
    transaction: a quality regression found later shows in the window's status. Returns the run row's
    (previous, new) status, or None without a run row or `restatus`."""
    ensure_tables(engine)
    start, end = utc_naive(window_start), utc_naive(window_end)
    key: dict[str, Any] = {"model": model, "window_start": start, "window_end": end}
    wrong = [m.check for m in rows if m.check != check]
    if wrong:
        raise ValueError(f"replace_check({check!r}) got rows of other checks: {sorted(set(wrong))}")
    token = _window_token(model, start, end)
    with unavailable_as_error(engine, "results database"), locked_transaction(engine, token) as conn:
        conn.execute(metrics.delete().where(*(metrics.c[k] == v for k, v in {**key, "check_name": check}.items())))
        if rows:
            conn.execute(metrics.insert(), [_metric_row(key, m) for m in rows])
        if restatus is None:
            return None
        run = conn.execute(sa.select(runs).where(*(runs.c[k] == v for k, v in key.items()))).first()
        if run is None:
            return None
        stored = [
            metric_of(dict(r._mapping))
            for r in conn.execute(metrics.select().where(*(metrics.c[k] == v for k, v in key.items())))
        ]
        status, message = restatus(dict(run._mapping), stored)
        conn.execute(
            runs.update()
            .where(*(runs.c[k] == v for k, v in key.items()))
            .values(status=status, message=message, rescored_at=utc_naive(now or dt.datetime.now(dt.UTC)))
        )
        return run.status, status


def last_served_run(engine: Engine, model: str, before: dt.datetime) -> dict[str, Any] | None:
    """The newest scheduled (not ad-hoc) run row with serving rows in a window starting before `before`
    (one indexed read)."""
    ensure_tables(engine)
    scheduled = sa.or_(runs.c.adhoc.is_(None), runs.c.adhoc == sa.false())
    stmt = (
        sa.select(runs.c.window_start, runs.c.window_end, runs.c.model_versions)
        .where(runs.c.model == model, runs.c.window_start < utc_naive(before), runs.c.rows > 0, scheduled)
        .order_by(runs.c.window_start.desc())
        .limit(1)
    )
    with engine.connect() as conn:
        row = conn.execute(stmt).first()
    return dict(row._mapping) if row else None


def previous_metric(
    engine: Engine, model: str, check: str, column: str, metric: str, before: dt.datetime
) -> dict[str, Any] | None:
    """The newest row of one metric in a scheduled window before `before` (any status), details parsed."""
    ensure_tables(engine)
    m = metrics
    stmt = (
        sa.select(m.c.window_start, m.c.value, m.c.status, m.c.details)
        .select_from(m.join(runs, scheduled_run(m)))
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
