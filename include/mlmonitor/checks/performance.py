"""The performance check: delayed-label quality (ML Test Score M7). Predictions of a window joined
by id to the labels that have arrived, scored with SQL aggregates and compared with the training
(or configured) baseline.

Classification scores threshold the probability (`labels.threshold`) against the `positive_label`;
ROC AUC comes from a GROUP BY over the probability rounded to 1e-4 (at most 20 002 groups, so
memory does not grow with the window), log loss from SQL `ln` clipped at 1e-15.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import replace
from typing import Any, TypedDict, cast

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from mlmonitor.checks.anomalies import quality_anomalies
from mlmonitor.checks.base import WindowCheck
from mlmonitor.checks.estimation import (
    CALIBRATION_BINS,
    ESTIMATED,
    SCORE_RESOLUTION,
    bin_of,
    expected_scores,
    isotonic,
)
from mlmonitor.checks.scores import CLASSIFICATION, LOWER_IS_BETTER, REGRESSION, Z_SE, auc_se, mean_se, roc_auc, share
from mlmonitor.config import LabelsConfig, ModelConfig
from mlmonitor.dialect import as_float, exact_text
from mlmonitor.errors import ConfigError
from mlmonitor.metrics import Metric
from mlmonitor.storage.baselines import Calibration
from mlmonitor.warehouse import ModelTables, bound, column, is_numeric, reflect_table, window_filter
from mlmonitor.window import Window

_EPS = 1e-15
_AUC_BINS = 10_000


class CoverageDetails(TypedDict):
    labeled: int
    rows: int
    as_of: str | None


class QualityDetails(TypedDict, total=False):
    labeled: int
    baseline: float | None
    baseline_source: str | None  # "labels.expected" or "training table"
    tolerance: float
    standard_error: float | None
    note: str  # why it was not judged
    rule: str
    # realized rows, when the window's quality was also estimated before its labels (CBPE):
    estimated: float | None
    estimation_error: float | None  # realized - estimated
    # estimated rows (`estimated_<metric>`):
    method: str
    rows: int  # predictions the estimate is made from
    realized_spread: float | None  # std of the realized metric around the estimate if the calibration holds


def _labels(model: ModelConfig) -> LabelsConfig:
    if model.labels is None:
        raise ConfigError(f"{model.name}: no labels section in the model YAML; add labels: to score predictions")
    return model.labels


def _outcome(model: ModelConfig, label: sa.Column[Any]) -> sa.ColumnElement[Any]:
    """The label as a number: 1/0 for the positive class of a classifier, the value for regression.
    A numeric label column is compared as a number (SQLite spells 1.0 as '1.0' in text), others as text."""
    if model.prediction.task == "regression":
        return as_float(label)
    positive = _labels(model).positive_label
    if isinstance(label.type, sa.Boolean):
        return sa.case((label.is_(positive.lower() in {"1", "true"}), 1), else_=0)
    try:
        is_positive = as_float(label) == float(positive) if is_numeric(label) else None
    except ValueError:
        is_positive = None
    if is_positive is None:
        is_positive = exact_text(label) == positive
    return sa.case((is_positive, 1), else_=0)


Scores = dict[str, tuple[float | None, float | None]]  # metric -> (value, standard error)


def _classification(
    engine: Engine, model: ModelConfig, source: sa.FromClause, p: sa.ColumnElement[Any], y: Any, where: Any
) -> Scores:
    cfg = _labels(model)
    hit = sa.case((p >= cfg.threshold, 1), else_=0)
    clipped = sa.case((p < _EPS, _EPS), (p > 1 - _EPS, 1 - _EPS), else_=p)
    loss = -(y * sa.func.ln(clipped) + (1 - y) * sa.func.ln(1 - clipped))
    counts = [sa.func.count(), sa.func.sum(y), sa.func.sum(hit), sa.func.sum(hit * y)]
    bucket = sa.func.round(p * _AUC_BINS).label("score")
    with engine.connect() as conn:
        row = conn.execute(sa.select(*counts).select_from(source).where(where)).one()
        n, pos, pred_pos, tp = (int(v or 0) for v in row)
        losses = conn.execute(
            sa.select(sa.func.avg(loss), sa.func.avg(loss * loss)).select_from(source).where(where)
        ).one()
        hist = conn.execute(
            sa.select(bucket, sa.func.sum(y), sa.func.count()).select_from(source).where(where).group_by(bucket)
        ).all()
    if n == 0:
        return {}
    fp, fn = pred_pos - tp, pos - tp
    auc = roc_auc([(float(s), int(k or 0), int(c)) for s, k, c in hist])
    f1_n = tp + (fp + fn) / 2  # F1 = tp / f1_n, treated as a proportion for its standard error
    return {
        "accuracy": share(n - fp - fn, n),
        "precision": share(tp, pred_pos),
        "recall": share(tp, pos),
        "f1": (tp / f1_n, math.sqrt((tp / f1_n) * (1 - tp / f1_n) / f1_n)) if tp else (0.0 if f1_n else None, None),
        "roc_auc": (auc, auc_se(auc, pos, n - pos) if auc is not None else None),
        "log_loss": (float(losses[0]), mean_se(float(losses[0]), float(losses[1]), n)),
    }


def _regression(engine: Engine, source: sa.FromClause, p: sa.ColumnElement[Any], y: Any, where: Any) -> Scores:
    err = p - y
    sq = err * err
    ape = sa.case((y != 0, sa.func.abs(err / y)), else_=None)
    exprs = [
        sa.func.count(),
        sa.func.avg(sa.func.abs(err)),
        sa.func.avg(sq),
        sa.func.avg(sq * sq),
        sa.func.count(ape),
        sa.func.avg(ape),
        sa.func.avg(ape * ape),
    ]
    with engine.connect() as conn:
        n, mae, mse, m4, n_ape, mape, ape2 = conn.execute(sa.select(*exprs).select_from(source).where(where)).one()
    if not n:
        return {}
    mae, mse, rmse = float(mae), float(mse), math.sqrt(float(mse))
    # delta method: se(sqrt(m)) = se(m) / (2 sqrt(m))
    rmse_se = mean_se(mse, float(m4), n) / (2 * rmse) if rmse else 0.0
    return {
        "mae": (mae, mean_se(mae, mse, n)),
        "rmse": (rmse, rmse_se),
        "mape": (float(mape), mean_se(float(mape), float(ape2), n_ape)) if n_ape else (None, None),
    }


def score(
    engine: Engine, model: ModelConfig, source: sa.FromClause, p: sa.ColumnElement[Any], label: Any, where: Any
) -> Scores:
    """Quality metrics and their standard errors over the (prediction, label) pairs of `source`
    where both are present."""
    y = _outcome(model, label)
    both = sa.and_(p.isnot(None), label.isnot(None), where)
    if model.prediction.task == "regression":
        return _regression(engine, source, p, y, both)
    return _classification(engine, model, source, p, y, both)


def training_performance(engine: Engine, model: ModelConfig, tables: ModelTables) -> dict[str, float]:
    """The baseline: the same metrics on the training table when it holds the label column."""
    if model.labels is None or model.labels.label_column not in tables.training.c:
        return {}
    t = tables.training
    p = as_float(t.c[model.prediction.column])
    values = score(engine, model, t, p, t.c[model.labels.label_column], sa.true())
    return {k: v for k, (v, _) in values.items() if v is not None}


def calibration(engine: Engine, model: ModelConfig, tables: ModelTables) -> Calibration | None:
    """The calibration map of a classifier from its labelled training rows (one GROUP BY over the
    probability rounded to 1e-3), or None without training labels or for regression."""
    if model.prediction.task != "classification" or model.labels is None:
        return None
    t = tables.training
    if model.labels.label_column not in t.c:
        return None
    p = as_float(t.c[model.prediction.column])
    y = _outcome(model, t.c[model.labels.label_column])
    score = sa.func.round(p * SCORE_RESOLUTION).label("score")
    both = sa.and_(p.isnot(None), t.c[model.labels.label_column].isnot(None))
    stmt = sa.select(score, sa.func.count(), sa.func.sum(y)).where(both).group_by(score)
    counts = [0] * CALIBRATION_BINS
    positives = [0.0] * CALIBRATION_BINS
    with engine.connect() as conn:
        for s, n, k in conn.execute(stmt):
            i = bin_of(float(s) / SCORE_RESOLUTION)
            counts[i] += int(n)
            positives[i] += float(k or 0)
    if not sum(counts):
        return None
    return Calibration(bins=CALIBRATION_BINS, counts=counts, curve=isotonic(counts, positives), labeled=sum(counts))


def estimated_metrics(
    engine: Engine,
    model: ModelConfig,
    tables: ModelTables,
    window: Window,
    cal: Calibration,
    expected: dict[str, float],
) -> list[Metric]:
    """Quality estimated without labels (CBPE): the window's predictions grouped by probability (1e-3)
    and predicted class in SQL, each group's calibrated probability its expected positive share; each
    `estimated_<metric>` is judged against the baseline like a realized metric, its standard error
    being the spread of the realized metric around the estimate."""
    cfg = _labels(model)
    p = as_float(tables.serving.c[model.prediction.column])
    score = sa.func.round(p * SCORE_RESOLUTION).label("score")
    hit = sa.case((p >= cfg.threshold, 1), else_=0).label("hit")
    where = sa.and_(p.isnot(None), window_filter(tables.ts(model), window))
    stmt = sa.select(score, hit, sa.func.count()).where(where).group_by(score, hit)
    with engine.connect() as conn:
        groups = [(float(s) / SCORE_RESOLUTION, bool(h), int(n)) for s, h, n in conn.execute(stmt)]
    estimates, spreads = expected_scores(groups, cal.curve)
    rows = sum(n for *_, n in groups)
    out = []
    for metric in ESTIMATED:
        value, se = estimates.get(metric, (None, None))
        m = judge(model, metric, value, se, expected.get(metric), rows, estimated=True)
        details = cast(QualityDetails, dict(m.details))
        details["method"] = (
            f"CBPE: predictions calibrated on {cal.labeled} labelled training rows ({cal.bins} isotonic bins)"
        )
        details["rows"] = rows
        details["realized_spread"] = spreads.get(metric)
        out.append(replace(m, metric=f"estimated_{metric}", details=details))
    return out


def _with_estimates(realized: list[Metric], estimated: list[Metric]) -> list[Metric]:
    """Realized rows with the estimate made for the same metric and the estimation error beside it."""
    by_metric = {m.metric.removeprefix("estimated_"): m.value for m in estimated}
    out = []
    for m in realized:
        if m.metric not in by_metric or m.value is None or by_metric[m.metric] is None:
            out.append(m)
            continue
        est = by_metric[m.metric]
        details = cast(QualityDetails, dict(m.details))
        details["estimated"] = est
        details["estimation_error"] = m.value - est if est is not None else None
        out.append(replace(m, details=details))
    return out


def _limit(metric: str, base: float, tolerance: float) -> float:
    return base * (1 + tolerance) if metric in LOWER_IS_BETTER else base * (1 - tolerance)


def performance_metrics(
    engine: Engine,
    model: ModelConfig,
    tables: ModelTables,
    window: Window,
    baseline: dict[str, float],
    as_of: dt.datetime | None = None,
    cal: Calibration | None = None,
) -> list[Metric]:
    """Label coverage and quality of the window's predictions, with the labels arrived by `as_of`
    (when `labels.arrived_at_column` is set), each judged against its baseline by `judge`; with a
    calibration map (a classifier with training labels) also the quality estimated before the labels
    (`estimated_<metric>`), and the estimation error beside each realized metric."""
    if model.labels is None:
        return []
    cfg = model.labels
    labels = reflect_table(engine, cfg.table, f"{model.name}: labels")
    key = column(labels, cfg.id_column, f"{model.name}: labels id")
    label = column(labels, cfg.label_column, f"{model.name}: labels label")
    on: list[sa.ColumnElement[bool]] = [tables.serving.c[model.serving.id_column] == key]
    if cfg.arrived_at_column and as_of is not None:
        arrived = column(labels, cfg.arrived_at_column, f"{model.name}: labels arrived_at")
        on.append(arrived < bound(arrived, as_of))
    source = tables.serving.outerjoin(labels, sa.and_(*on))
    where = window_filter(tables.ts(model), window)
    with engine.connect() as conn:
        rows, labeled = conn.execute(
            sa.select(sa.func.count(), sa.func.count(label)).select_from(source).where(where)
        ).one()
    if not rows:
        return []
    expected = {**baseline, **cfg.expected}
    coverage_details = CoverageDetails(labeled=int(labeled), rows=int(rows), as_of=as_of.isoformat() if as_of else None)
    out = [
        Metric(
            check="performance",
            column="",
            metric="label_coverage",
            value=labeled / rows if rows else 0.0,
            details=coverage_details,
        )
    ]
    estimated = estimated_metrics(engine, model, tables, window, cal, expected) if cal is not None else []
    if not labeled:
        return out + estimated
    p = as_float(tables.serving.c[model.prediction.column])
    values = score(engine, model, source, p, label, where)
    realized = []
    for metric in CLASSIFICATION if model.prediction.task == "classification" else REGRESSION:
        value, se = values.get(metric, (None, None))
        realized.append(judge(model, metric, value, se, expected.get(metric), int(labeled)))
    return out + _with_estimates(realized, estimated) + estimated


def judge(
    model: ModelConfig,
    metric: str,
    value: float | None,
    se: float | None,
    base: float | None,
    labeled: int,
    *,
    estimated: bool = False,
) -> Metric:
    """Alert when `value` is worse than `base` by more than `labels.tolerance` (relative) AND by more
    than Z_SE standard errors, so the noise of a small window never alerts; judged from `min_labels`
    (labels, or predictions for an estimate)."""
    cfg = _labels(model)
    details = QualityDetails(
        labeled=0 if estimated else labeled,
        baseline=base,
        tolerance=cfg.tolerance,
        standard_error=se,
        baseline_source="labels.expected" if metric in cfg.expected else "training table" if base else None,
    )
    if labeled < cfg.min_labels or base is None or value is None:
        what = "predictions" if estimated else "labels"
        why = f"fewer than labels.min_labels={cfg.min_labels} {what}" if labeled < cfg.min_labels else "no baseline"
        details["note"] = f"not judged: {why}" if value is not None else "undefined for this window"
        return Metric(check="performance", column="", metric=metric, value=value, details=details)
    limit = _limit(metric, base, cfg.tolerance)
    margin = Z_SE * (se or 0.0)
    if metric in LOWER_IS_BETTER:
        bad = value > limit and value > base + margin
    else:
        bad = value < limit and value < base - margin
    details["rule"] = f"alert when worse than the baseline by {cfg.tolerance:.0%} and by {Z_SE} standard errors"
    return Metric(
        check="performance",
        column="",
        metric=metric,
        value=value,
        status="alert" if bad else "ok",
        threshold=limit,
        details=details,
    )


def with_history(model: ModelConfig, results: Engine, window: Window, rows: list[Metric]) -> list[Metric]:
    """A window's performance rows and their realized metrics judged against their own history
    (`anomalies.series.quality`)."""
    return rows + quality_anomalies(model, results, window, rows)


def recent_windows(model: ModelConfig, end: dt.datetime, count: int) -> list[Window]:
    """The `count` windows of the monitor schedule that end at or before `end`, newest first,
    none starting before `start_date` (the windows the labels DAG re-scores)."""
    from croniter import croniter

    first = dt.datetime.combine(model.start_date, dt.time(), tzinfo=dt.UTC)
    # a plain UTC datetime: croniter drops the zone of some datetime subclasses (pendulum)
    it = croniter(model.schedule, dt.datetime.fromtimestamp(end.timestamp(), dt.UTC) + dt.timedelta(microseconds=1))

    def prev() -> dt.datetime:
        value: dt.datetime = it.get_prev(dt.datetime)
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)

    hi = prev()
    out: list[Window] = []
    while len(out) < count:
        lo = prev()
        if lo < first:
            break
        out.append(Window.of(lo, hi))
        hi = lo
    return out


PERFORMANCE = WindowCheck(
    name="performance",
    family="performance",
    summary="label coverage and quality (accuracy ... ROC AUC, or MAE, RMSE, MAPE) with the labels arrived so "
    "far (M7); the labels DAG re-scores recent windows as more arrive; before the labels, a classifier's "
    "accuracy ... ROC AUC estimated from its calibrated probabilities (CBPE, `estimated_<metric>`); each "
    "realized metric against its own history (`anomaly:<metric>`)",
    statuses={
        "warning": "a realized quality metric far from its own history (anomalies, see the anomalies check)",
        "alert": "a quality metric (realized, or estimated before the labels) worse than its baseline by "
        "labels.tolerance and by 4 standard errors",
    },
    run=lambda ctx: with_history(
        ctx.model,
        ctx.results_engine,
        ctx.window,
        performance_metrics(
            ctx.engine,
            ctx.model,
            ctx.tables,
            ctx.window,
            ctx.baseline.performance,
            ctx.window.end,
            ctx.baseline.calibration,
        ),
    ),
)
