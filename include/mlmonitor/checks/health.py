"""Model and operations health of a window (ML Test Score M4-M6, model versions, window length).

Each check is a small function returning Metric rows of family `health`; all counting happens in
the warehouse (one aggregate query per check), and history comes from `mlmonitor_metrics`.
"""

from __future__ import annotations

import datetime as dt
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TypedDict, cast

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from mlmonitor import profile as prof
from mlmonitor.checks.base import History, WindowCheck, WindowContext
from mlmonitor.config import ModelConfig
from mlmonitor.dialect import as_float, capabilities, exact_text
from mlmonitor.limits import OTHER_VERSIONS, VERSION_CHARS, version_key
from mlmonitor.metrics import Metric, Status
from mlmonitor.warehouse import ModelTables, column, reflect_table, window_filter
from mlmonitor.window import Window, schedule_interval, utc_naive

_ERROR_RATE_FLOOR = 0.001  # a trailing error rate of 0 compares as 0.1 %, so one failed request is no regression
_DAY = 86_400.0
# an ad-hoc window longer than this many schedule intervals is worth a warning: its statistics mix
# many periods, so a short incident inside it is diluted
LARGE_WINDOW_INTERVALS = 31


class VersionDetails(TypedDict):
    rows: int
    versions: list[str]
    allowed: list[str]
    unknown: bool


class VersionChangeDetails(TypedDict):
    """A window serving a version its previous serving window did not serve."""

    previous: list[str]  # versions of the previous window that served rows
    current: list[str]
    new: list[str]  # served now, not before (a version's first window), allowed ones included
    unexpected: list[str]  # the new ones outside serving.allowed_model_versions: what the status is about
    previous_window_start: str
    change: str  # "v1 -> v2", the label alerts and the dashboard show


class AgeDetails(TypedDict, total=False):
    trained_at: str
    source: str
    warn_days: float
    alert_days: float
    rule: str
    problem: str  # a served version missing from the registry


class StabilityDetails(TypedDict):
    rows: int
    range: list[float | None]
    rule: str
    count: int


class OperationsDetails(TypedDict, total=False):
    """Latency p95, volume and error rate against the trailing healthy windows."""

    trailing_windows: int
    rule: str
    trailing_median_p95: float
    trailing_median_rows: float
    trailing_median_error_rate: float
    errors: int
    rows: int
    error_values: list[str]


class WindowLengthDetails(TypedDict):
    window_hours: float
    schedule: str
    interval_hours: float
    rule: str


def version_metrics(model: ModelConfig, versions: dict[str, int]) -> list[Metric]:
    """Share of requests per model version; a version outside `allowed_model_versions` and mixed
    versions get the statuses configured under `health`. Versions are compared as stored (clipped);
    the "other versions" bucket counts as unknown when versions are restricted (its versions are not
    checked one by one)."""
    total = sum(versions.values())
    allowed = {version_key(v) for v in model.serving.allowed_model_versions}
    unknown = sorted(v for v in versions if allowed and v not in allowed)
    mixed: Status = model.health.mixed_versions if len(versions) > 1 else "ok"
    column_name = model.serving.model_version_column or ""
    out = []
    for v, n in sorted(versions.items()):
        status: Status = model.health.unknown_version if v in unknown else mixed
        details = VersionDetails(rows=n, versions=sorted(versions), allowed=sorted(allowed), unknown=v in unknown)
        out.append(
            Metric(
                check="health", column=column_name, metric=f"share:{v}", value=n / total, status=status, details=details
            )
        )
    return out


def version_change_metric(
    model: ModelConfig, versions: Mapping[str, int], previous: tuple[dt.datetime, Mapping[str, int]] | None
) -> list[Metric]:
    """One `version_change` row when a version is served that the previous serving window did not serve:
    `health.version_change` (default warning) unless every new version is in `allowed_model_versions`
    (then ok, still recorded: the dashboard marks the first window of every version). Nothing without
    a version column, an earlier window to compare with or a new version. Versions compare as stored
    (clipped); the "other versions" bucket is never a new version, and when the previous window had it,
    a version now among the most served may have been in it: not a change."""
    if not model.serving.model_version_column or previous is None or not versions:
        return []
    start, before = previous
    if OTHER_VERSIONS in before:
        return []
    new = sorted(set(versions) - set(before) - {OTHER_VERSIONS})
    if not new:
        return []
    allowed = {version_key(v) for v in model.serving.allowed_model_versions}
    unexpected = [v for v in new if v not in allowed]
    status: Status = model.health.version_change if unexpected else "ok"
    old = " + ".join(sorted(before)) or "none"
    details = VersionChangeDetails(
        previous=sorted(before),
        current=sorted(versions),
        new=new,
        unexpected=unexpected,
        previous_window_start=start.isoformat(),
        change=f"{old} -> {' + '.join(new)}",
    )
    return [
        Metric(
            check="health",
            column=model.serving.model_version_column,
            metric="version_change",
            value=float(len(new)),
            status=status,
            details=details,
        )
    ]


def _as_datetime(value: object) -> dt.datetime | None:
    """A trained-at value as stored (datetime, date or ISO text) as naive UTC."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return utc_naive(value)
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time())
    return _as_datetime(dt.datetime.fromisoformat(str(value)))


def _age_metric(model: ModelConfig, metric: str, trained: dt.datetime, window: Window, source: str) -> Metric:
    cfg = model.health.staleness
    age = (utc_naive(window.end) - trained).total_seconds() / _DAY
    status: Status = "alert" if age >= cfg.alert_days else "warning" if age >= cfg.warn_days else "ok"
    details = AgeDetails(
        trained_at=trained.isoformat(),
        source=source,
        warn_days=cfg.warn_days,
        alert_days=cfg.alert_days,
        rule="age at the window end; warning from warn_days, alert from alert_days",
    )
    return Metric(
        check="health",
        column=model.serving.model_version_column or "",
        metric=metric,
        value=age,
        status=status,
        threshold=cfg.warn_days,
        p_value=None,
        details=details,
    )


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
    version = exact_text(column(table, reg.version_column, f"{model.name}: registry version"))
    trained_at = column(table, reg.trained_at_column, f"{model.name}: registry trained_at")
    stmt = sa.select(version, sa.func.max(trained_at)).group_by(version)
    served = [v for v in versions if v != OTHER_VERSIONS]
    if served and all(len(v) < VERSION_CHARS for v in served):
        stmt = stmt.where(version.in_(sorted(served)))  # else: a clipped version is matched by its clipped key
    with engine.connect() as conn:
        known = {version_key(str(v)): _as_datetime(t) for v, t in conn.execute(stmt)}
    source = f"registry table {reg.table}"
    if not versions:  # no version column: the newest registered model is the one serving
        newest = max((t for t in known.values() if t), default=None)
        return [_age_metric(model, "model_age_days", newest, window, source)] if newest else []
    out = []
    for v in sorted(served):
        trained = known.get(v)
        if trained is None:
            out.append(
                Metric(
                    check="health",
                    column=model.serving.model_version_column or "",
                    metric=f"model_age_days:{v}",
                    value=None,
                    status="warning",
                    details=AgeDetails(source=source, problem=f"version {v} has no row in {reg.table}; register it"),
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
    NaN into NULL on insert, so there a NaN prediction counts in `null_share`; MariaDB/MySQL store
    neither (their shares are 0 without asking)."""
    name = model.prediction.column
    col = tables.serving.c[name]
    x = as_float(col)
    caps = capabilities(engine.dialect)
    lo, hi = prediction_range(model)
    outside = [c for c in (x < lo if lo is not None else None, x > hi if hi is not None else None) if c is not None]
    whens: list[tuple[sa.ColumnElement[bool], str]] = [(col.is_(None), "null")]
    if caps.stores_nan:
        whens.append((x == sa.literal(math.nan, sa.Double()), "nan"))
    if caps.stores_infinity:
        whens.append((x.in_([sa.literal(math.inf, sa.Double()), sa.literal(-math.inf, sa.Double())]), "inf"))
    if outside:
        whens.append((sa.or_(*outside), "out_of_range"))
    bucket = sa.case(*whens, else_=sa.literal("ok")).label("bucket")
    stmt = sa.select(bucket, sa.func.count()).where(window_filter(tables.ts(model), window)).group_by(bucket)
    with engine.connect() as conn:
        counts = {str(b): int(n) for b, n in conn.execute(stmt)}
    total = sum(counts.values())
    limit = model.health.stability.max_invalid_share
    rule = f"alert when a share exceeds {limit}"
    out = []
    for kind in ("null", "nan", "inf", "out_of_range"):
        share = counts.get(kind, 0) / total if total else 0.0
        status: Status = "alert" if share > limit else "ok"
        out.append(
            Metric(
                check="health",
                column=name,
                metric=f"{kind}_share",
                value=share,
                status=status,
                threshold=limit,
                details=StabilityDetails(rows=total, range=[lo, hi], rule=rule, count=counts.get(kind, 0)),
            )
        )
    return out


@dataclass(frozen=True)
class Trailing:
    """Values of the trailing healthy windows (newest first), the baseline of the operations checks."""

    p95: Sequence[float] = ()
    rows: Sequence[float] = ()
    error_rate: Sequence[float] = ()


def trailing(history: History, model: ModelConfig) -> Trailing:
    """Read the operations history of the model before the window from mlmonitor_metrics."""
    n = model.health.operations.history_windows
    s = model.serving

    def values(column_name: str, metric: str) -> list[float]:
        return history.trailing("health", column_name, metric, n)

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
        details = OperationsDetails(
            trailing_windows=len(history), rule=f"judged once {min_history} healthy windows exist"
        )
        return Metric(check="health", column=column_name, metric=metric, value=value, details=details)
    median = statistics.median(history)
    bad = value > high * median or value < low * median
    details = cast(
        OperationsDetails,
        {
            f"trailing_median_{metric}": median,
            "trailing_windows": len(history),
            "rule": f"warning outside [{low:g}, {high:g}] x the median of the trailing healthy windows",
        },
    )
    return Metric(
        check="health",
        column=column_name,
        metric=metric,
        value=value,
        status="warning" if bad else "ok",
        threshold=high * median,
        details=details,
    )


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
            out.append(Metric(check="health", column=name, metric=metric, value=value))
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
    status_text = exact_text(tables.serving.c[name])
    is_error = sa.case((status_text.in_(list(model.serving.error_values)), 1), else_=0)
    stmt = sa.select(sa.func.count(), sa.func.sum(is_error)).where(window_filter(tables.ts(model), window))
    with engine.connect() as conn:
        total, errors = conn.execute(stmt).one()
    rate = int(errors or 0) / int(total) if total else 0.0
    details = OperationsDetails(
        errors=int(errors or 0),
        rows=int(total),
        error_values=list(model.serving.error_values),
        trailing_windows=len(trailing_rate),
    )
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
    return [
        Metric(
            check="health",
            column=name,
            metric="error_rate",
            value=rate,
            status=status,
            threshold=threshold,
            details=details,
        )
    ]


def operations_metrics(
    engine: Engine, model: ModelConfig, tables: ModelTables, window: Window, rows: int, history: Trailing
) -> list[Metric]:
    """Serving health (M6): latency, request volume and error rate against the trailing windows."""
    return [
        *latency_metrics(engine, model, tables, window, history.p95),
        volume_metric(model, rows, history.rows),
        *error_rate_metric(engine, model, tables, window, history.error_rate),
    ]


def window_length(model: ModelConfig, window: Window) -> Metric:
    """How many schedule intervals the window spans; far more than one is an explicit warning."""
    interval = schedule_interval(model.schedule, window.start)
    # total_seconds(): the bounds may be pendulum datetimes (Airflow's data interval), whose
    # difference does not divide by a stdlib timedelta
    ratio = (window.end - window.start).total_seconds() / interval.total_seconds()
    status: Status = "warning" if ratio > LARGE_WINDOW_INTERVALS else "ok"
    details = WindowLengthDetails(
        window_hours=(window.end - window.start).total_seconds() / 3600,
        schedule=model.schedule,
        interval_hours=interval.total_seconds() / 3600,
        rule=f"warning above {LARGE_WINDOW_INTERVALS} schedule intervals: a short incident is diluted; "
        "monitor long periods as several windows (a backfill)",
    )
    return Metric(
        check="health",
        column="",
        metric="window_intervals",
        value=ratio,
        status=status,
        threshold=LARGE_WINDOW_INTERVALS,
        details=details,
    )


def _operations(ctx: WindowContext) -> list[Metric]:
    return operations_metrics(ctx.engine, ctx.model, ctx.tables, ctx.window, ctx.rows, trailing(ctx.history, ctx.model))


VERSIONS = WindowCheck(
    name="versions",
    family="health",
    summary="share of requests per model version (`share:<version>`)",
    statuses={
        "warning": "several model versions served one window (health.mixed_versions; ok for A/B tests)",
        "alert": "a version outside serving.allowed_model_versions (health.unknown_version)",
    },
    run=lambda ctx: version_metrics(ctx.model, dict(ctx.versions)),
)
VERSION_CHANGE = WindowCheck(
    name="version_change",
    family="health",
    summary="model versions served that the previous serving window did not serve (`version_change`, old -> new)",
    statuses={
        "warning": "a new version outside serving.allowed_model_versions (health.version_change: ok, warning or "
        "alert); an allowed one is recorded as ok and marked on the dashboard",
    },
    run=lambda ctx: version_change_metric(ctx.model, ctx.versions, ctx.history.previous_versions()),
)
STALENESS = WindowCheck(
    name="staleness",
    family="health",
    summary="model age in days at the window end (M4): trained_at, the registry table or the newest training row",
    statuses={
        "warning": "the model is older than health.staleness.warn_days, or a served version is not in the registry",
        "alert": "the model is older than health.staleness.alert_days",
    },
    run=lambda ctx: staleness_metrics(
        ctx.engine, ctx.model, ctx.window, dict(ctx.versions), ctx.baseline.fingerprint.max_timestamp
    ),
)
STABILITY = WindowCheck(
    name="stability",
    family="health",
    summary="shares of NULL, NaN, infinite and out-of-range predictions (M5)",
    statuses={"alert": "a share of invalid predictions above health.stability.max_invalid_share"},
    run=lambda ctx: stability_metrics(ctx.engine, ctx.model, ctx.tables, ctx.window),
)
OPERATIONS = WindowCheck(
    name="operations",
    family="health",
    summary="latency p50/p95/p99, request volume and error rate against the trailing healthy windows (M6)",
    statuses={
        "warning": "latency p95, request volume or error rate regressed against the trailing healthy windows",
        "alert": "an error rate above health.operations.max_error_rate",
    },
    run=_operations,
)
WINDOW_LENGTH = WindowCheck(
    name="window_length",
    family="health",
    summary="how many schedule intervals the window spans",
    statuses={"warning": f"the window spans more than {LARGE_WINDOW_INTERVALS} schedule intervals (an ad-hoc run)"},
    run=lambda ctx: [window_length(ctx.model, ctx.window)],
)
