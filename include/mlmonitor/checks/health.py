"""Model and operations health of a window (ML Test Score M4-M6 and model versions).

Each check is a small function returning Metric rows of check `health`; all counting happens in
the warehouse (one aggregate query per check), and history comes from `mlmonitor_metrics`.
"""

from __future__ import annotations

import datetime as dt
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from mlmonitor import profile as prof
from mlmonitor.config import ModelConfig
from mlmonitor.metrics import Metric, Status
from mlmonitor.storage.results import trailing_values
from mlmonitor.warehouse import ModelTables, column, reflect_table, window_filter
from mlmonitor.window import Window

_ERROR_RATE_FLOOR = 0.001  # a trailing error rate of 0 compares as 0.1 %, so one failed request is no regression
_DAY = 86_400.0


def version_metrics(model: ModelConfig, versions: dict[str, int]) -> list[Metric]:
    """Share of requests per model version; a version outside `allowed_model_versions` and mixed
    versions get the statuses configured under `health`."""
    total = sum(versions.values())
    allowed = set(model.serving.allowed_model_versions)
    unknown = sorted(v for v in versions if allowed and v not in allowed)
    mixed: Status = model.health.mixed_versions if len(versions) > 1 else "ok"
    column_name = model.serving.model_version_column or ""
    out = []
    for v, n in sorted(versions.items()):
        status: Status = model.health.unknown_version if v in unknown else mixed
        details = {"rows": n, "versions": sorted(versions), "allowed": sorted(allowed), "unknown": v in unknown}
        out.append(Metric("health", column_name, f"share:{v}", n / total, status, details=details))
    return out


def _as_datetime(value: object) -> dt.datetime | None:
    """A trained-at value as stored (datetime, date or ISO text) as naive UTC."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value if value.tzinfo is None else value.astimezone(dt.UTC).replace(tzinfo=None)
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time())
    return _as_datetime(dt.datetime.fromisoformat(str(value)))


def _age_metric(model: ModelConfig, metric: str, trained: dt.datetime, window: Window, source: str) -> Metric:
    cfg = model.health.staleness
    age = (window.end.astimezone(dt.UTC).replace(tzinfo=None) - trained).total_seconds() / _DAY
    status: Status = "alert" if age >= cfg.alert_days else "warning" if age >= cfg.warn_days else "ok"
    details = {
        "trained_at": trained.isoformat(),
        "source": source,
        "warn_days": cfg.warn_days,
        "alert_days": cfg.alert_days,
        "rule": "age at the window end; warning from warn_days, alert from alert_days",
    }
    return Metric("health", model.serving.model_version_column or "", metric, age, status, cfg.warn_days, None, details)


def staleness_metrics(
    engine: Engine, model: ModelConfig, window: Window, versions: dict[str, int], training_max: str | None
) -> list[Metric]:
    """Model age in days (M4): from `trained_at`, else the registry (per version served), else the
    newest training timestamp of the baseline; nothing when none of them is known."""
    cfg = model.health.staleness
    if cfg.trained_at:
        given = dt.datetime.combine(cfg.trained_at, dt.time())
        return [_age_metric(model, "model_age_days", given, window, "health.staleness.trained_at")]
    if cfg.registry is None:
        last = _as_datetime(training_max)
        return [_age_metric(model, "model_age_days", last, window, "training max timestamp")] if last else []
    reg = cfg.registry
    table = reflect_table(engine, reg.table, f"{model.name}: model registry")
    version = sa.cast(column(table, reg.version_column, f"{model.name}: registry version"), sa.String)
    trained_at = column(table, reg.trained_at_column, f"{model.name}: registry trained_at")
    stmt = sa.select(version, sa.func.max(trained_at)).group_by(version)
    if versions:
        stmt = stmt.where(version.in_(sorted(versions)))
    with engine.connect() as conn:
        known = {str(v): _as_datetime(t) for v, t in conn.execute(stmt)}
    source = f"registry table {reg.table}"
    if not versions:  # no version column: the newest registered model is the one serving
        newest = max((t for t in known.values() if t), default=None)
        return [_age_metric(model, "model_age_days", newest, window, source)] if newest else []
    out = []
    for v in sorted(versions):
        trained = known.get(v)
        if trained is None:
            out.append(
                Metric(
                    "health",
                    model.serving.model_version_column or "",
                    f"model_age_days:{v}",
                    None,
                    "warning",
                    details={"source": source, "problem": f"version {v} has no row in {reg.table}; register it"},
                )
            )
        else:
            out.append(_age_metric(model, f"model_age_days:{v}", trained, window, source))
    return out


def prediction_range(model: ModelConfig) -> tuple[float | None, float | None]:
    """The valid prediction range: configured, else [0, 1] for classification probabilities."""
    cfg = model.health.stability
    if cfg.min is not None or cfg.max is not None or model.prediction.task == "regression":
        return cfg.min, cfg.max
    return 0.0, 1.0


def stability_metrics(engine: Engine, model: ModelConfig, tables: ModelTables, window: Window) -> list[Metric]:
    """Shares of NULL, NaN, infinite and out-of-range predictions (M5), in one GROUP BY.

    NaN and infinity are compared as bound float parameters, so the driver spells them for its
    database: PostgreSQL stores and matches 'NaN' / 'Infinity'; SQLite stores infinity but turns
    NaN into NULL on insert, so there a NaN prediction counts in `null_share`."""
    name = model.prediction.column
    col = tables.serving.c[name]
    x = sa.cast(col, sa.Float)
    lo, hi = prediction_range(model)
    outside = [c for c in (x < lo if lo is not None else None, x > hi if hi is not None else None) if c is not None]
    whens: list[tuple[sa.ColumnElement[bool], str]] = [
        (col.is_(None), "null"),
        (x == sa.literal(math.nan, sa.Float), "nan"),
        (x.in_([sa.literal(math.inf, sa.Float), sa.literal(-math.inf, sa.Float)]), "inf"),
    ]
    if outside:
        whens.append((sa.or_(*outside), "out_of_range"))
    bucket = sa.case(*whens, else_=sa.literal("ok")).label("bucket")
    stmt = sa.select(bucket, sa.func.count()).where(window_filter(tables.ts(model), window)).group_by(bucket)
    with engine.connect() as conn:
        counts = {str(b): int(n) for b, n in conn.execute(stmt)}
    total = sum(counts.values())
    limit = model.health.stability.max_invalid_share
    details = {"rows": total, "range": [lo, hi], "rule": f"alert when a share exceeds {limit}"}
    out = []
    for kind in ("null", "nan", "inf", "out_of_range"):
        share = counts.get(kind, 0) / total if total else 0.0
        status: Status = "alert" if share > limit else "ok"
        out.append(
            Metric(
                "health", name, f"{kind}_share", share, status, limit, details={**details, "count": counts.get(kind, 0)}
            )
        )
    return out


@dataclass(frozen=True)
class Trailing:
    """Values of the trailing healthy windows (newest first), the baseline of the operations checks."""

    p95: Sequence[float] = ()
    rows: Sequence[float] = ()
    error_rate: Sequence[float] = ()


def trailing(results_engine: Engine, model: ModelConfig, window: Window) -> Trailing:
    """Read the operations history of the model before `window` from mlmonitor_metrics."""
    n = model.health.operations.history_windows
    s = model.serving

    def values(column_name: str, metric: str) -> list[float]:
        return trailing_values(results_engine, model.name, "health", column_name, metric, window.start, n)

    return Trailing(
        p95=values(s.latency_column, "p95") if s.latency_column else [],
        rows=values("", "rows"),
        error_rate=values(s.status_column, "error_rate") if s.status_column else [],
    )


def _vs_history(
    column_name: str, metric: str, value: float, history: Sequence[float], min_history: int, low: float, high: float
) -> Metric:
    """`value` against the median of its history: warning outside [low, high] x median."""
    if len(history) < min_history:
        details = {"trailing_windows": len(history), "rule": f"judged once {min_history} healthy windows exist"}
        return Metric("health", column_name, metric, value, details=details)
    median = statistics.median(history)
    bad = value > high * median or value < low * median
    details = {
        f"trailing_median_{metric}": median,
        "trailing_windows": len(history),
        "rule": f"warning outside [{low:g}, {high:g}] x the median of the trailing healthy windows",
    }
    return Metric("health", column_name, metric, value, "warning" if bad else "ok", high * median, details=details)


def latency_metrics(
    engine: Engine, model: ModelConfig, tables: ModelTables, window: Window, trailing_p95: Sequence[float]
) -> list[Metric]:
    """Latency p50/p95/p99; p95 above `latency_regression` x the trailing median p95 is a regression."""
    name = model.serving.latency_column
    if not name:
        return []
    ops = model.health.operations
    qs = prof.quantiles(engine, tables.serving.c[name], window_filter(tables.ts(model), window), (0.5, 0.95, 0.99))
    out = []
    for q, value in qs.items():
        metric = f"p{round(q * 100)}"
        if metric == "p95":
            out.append(_vs_history(name, metric, value, trailing_p95, ops.min_history, 0.0, ops.latency_regression))
        else:
            out.append(Metric("health", name, metric, value))
    return out


def volume_metric(model: ModelConfig, rows: int, trailing_rows: Sequence[float]) -> Metric:
    """Requests in the window against the trailing median: a drop or a spike is a warning."""
    ops = model.health.operations
    return _vs_history("", "rows", float(rows), trailing_rows, ops.min_history, ops.volume_drop, ops.volume_spike)


def error_rate_metric(
    engine: Engine, model: ModelConfig, tables: ModelTables, window: Window, trailing_rate: Sequence[float]
) -> list[Metric]:
    """Share of requests whose status is one of `error_values`: alert above `max_error_rate`,
    warning above `error_rate_regression` x the trailing median (floored at 0.1 %)."""
    name = model.serving.status_column
    if not name:
        return []
    ops = model.health.operations
    status_text = sa.cast(tables.serving.c[name], sa.String)
    is_error = sa.case((status_text.in_(list(model.serving.error_values)), 1), else_=0)
    stmt = sa.select(sa.func.count(), sa.func.sum(is_error)).where(window_filter(tables.ts(model), window))
    with engine.connect() as conn:
        total, errors = conn.execute(stmt).one()
    rate = int(errors or 0) / int(total) if total else 0.0
    details: dict[str, object] = {
        "errors": int(errors or 0),
        "rows": int(total),
        "error_values": list(model.serving.error_values),
        "trailing_windows": len(trailing_rate),
    }
    status: Status = "ok"
    threshold = ops.max_error_rate
    if rate > ops.max_error_rate:
        status = "alert"
    elif len(trailing_rate) >= ops.min_history:
        median = statistics.median(trailing_rate)
        threshold = ops.error_rate_regression * max(median, _ERROR_RATE_FLOOR)
        details["trailing_median_error_rate"] = median
        status = "warning" if rate > threshold else "ok"
    details["rule"] = (
        f"alert above {ops.max_error_rate}; warning above {ops.error_rate_regression} x the trailing median "
        f"(at least {_ERROR_RATE_FLOOR})"
    )
    return [Metric("health", name, "error_rate", rate, status, threshold, details=details)]


def operations_metrics(
    engine: Engine, model: ModelConfig, tables: ModelTables, window: Window, rows: int, history: Trailing
) -> list[Metric]:
    """Serving health (M6): latency, request volume and error rate against the trailing windows."""
    return [
        *latency_metrics(engine, model, tables, window, history.p95),
        volume_metric(model, rows, history.rows),
        *error_rate_metric(engine, model, tables, window, history.error_rate),
    ]
