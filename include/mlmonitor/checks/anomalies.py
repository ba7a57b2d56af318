"""History-aware anomalies: each window's value of a stored series against the model's own history.

The series (`anomaly_stats.SERIES`: volume, latency p95, error rate, prediction mean, NULL share per
column, optionally drift scores) are read from the rows the earlier checks produced for the window;
each becomes one `anomaly` row whose value is the series' value, so the `anomaly` rows of earlier
windows are the history: one bounded range read of `mlmonitor_metrics` per window. Only `ok` rows
train the baseline (a window that alerted never does), the window itself is never in its own
history, and with seasonality only windows of the same bucket (weekday or hour) count.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypedDict

from sqlalchemy.engine import Engine

from mlmonitor.checks.anomaly_stats import (
    AnomalyRule,
    Seasonality,
    SeriesName,
    bucket_of,
    bucket_period,
    judge,
    series_info,
)
from mlmonitor.checks.base import WindowCheck
from mlmonitor.checks.drift import DRIFTED_SHARE, NULL_RATE_METRIC
from mlmonitor.checks.scores import CLASSIFICATION, REGRESSION
from mlmonitor.config import ModelConfig
from mlmonitor.metrics import Metric, Status
from mlmonitor.storage.results import healthy_history
from mlmonitor.window import Window, schedule_interval, utc_naive

FAMILY = "anomaly"
QUALITY_PREFIX = "anomaly:"  # `performance` rows judging a realized quality metric against its history


class AnomalyDetails(TypedDict):
    """One series value against its history (what the dashboard and alerts say)."""

    series: str  # its label, e.g. "request volume"
    source: str  # the stored row it was read from
    judged: bool
    reason: str
    n_history: int
    mean: float | None
    std: float | None
    z: float | None
    min_change: float | None
    sensitivity: float
    direction: str
    min_history: int
    seasonality: str
    bucket: str  # e.g. "Saturday", "07:00" or "" without seasonality
    change: str  # the value against its history in a few words ('' when not judged)


def observed(model: ModelConfig, rows: Sequence[Metric]) -> list[tuple[SeriesName, str, float]]:
    """(series, column, value) of every series found among a window's rows."""
    s = model.serving
    out: list[tuple[SeriesName, str, float]] = []
    for m in rows:
        value = m.value
        if m.check == "health" and m.metric == "rows" and not m.column and value is not None:
            out.append(("rows", "", float(value)))
        elif m.check == "health" and m.metric == "p95" and m.column == s.latency_column and value is not None:
            out.append(("latency_p95", m.column, float(value)))
        elif m.check == "health" and m.metric == "error_rate" and value is not None:
            out.append(("error_rate", m.column, float(value)))
        elif m.check == "stats" and m.metric == "mean" and m.column == model.prediction.column and value is not None:
            out.append(("prediction_mean", m.column, float(value)))
        elif m.check == "drift" and m.column and m.metric == NULL_RATE_METRIC:
            rate = m.details.get("window_null_rate")
            if isinstance(rate, (int, float)):
                out.append(("null_share", m.column, float(rate)))
        elif m.check == "drift" and m.column and m.metric != DRIFTED_SHARE and value is not None:
            out.append(("drift_score", m.column, float(value)))
    return out


def _reach(model: ModelConfig, window: Window, rules: Sequence[AnomalyRule], series: int) -> tuple[dt.datetime, int]:
    """The oldest window start to read and the row limit: `history_windows` windows of each series
    (of its bucket, with seasonality: a weekday's bucket recurs every 7 days)."""
    n = model.anomalies.history_windows
    interval = schedule_interval(model.schedule, window.start)
    step = max(max(bucket_period(r.seasonality), interval) for r in rules)
    windows_per_step = max(1, round(step / interval))
    return utc_naive(window.start) - step * n, n * windows_per_step * series


def anomaly_metrics(model: ModelConfig, results: Engine, window: Window, produced: Sequence[Metric]) -> list[Metric]:
    """One `anomaly` row per enabled series observed among the window's rows `produced` so far, judged
    against the `anomaly` rows of the model's earlier windows in `results` (see the module docstring)."""
    cfg = model.anomalies
    found = [
        Observed(series=n, metric=n, column=column, value=value, rule=rule)
        for n, column, value in observed(model, produced)
        if (rule := cfg.rule(n))
    ]
    return judge_series(model, results, window, FAMILY, found)


def quality_anomalies(model: ModelConfig, results: Engine, window: Window, rows: Sequence[Metric]) -> list[Metric]:
    """The realized quality metrics of a window (its `performance` rows judged with at least
    `labels.min_labels` labels) against their own history: `performance` rows `anomaly:<metric>`, so the
    labels DAG replaces them with the metrics they judge."""
    rule = model.anomalies.rule("quality")
    if rule is None or model.labels is None:
        return []
    enough = model.labels.min_labels
    found = [
        Observed(series="quality", metric=f"{QUALITY_PREFIX}{m.metric}", column="", value=float(m.value), rule=rule)
        for m in rows
        if m.check == "performance"
        and m.metric in (*CLASSIFICATION, *REGRESSION)
        and m.value is not None
        and int(m.details.get("labeled") or 0) >= enough
    ]
    return judge_series(model, results, window, "performance", found)


@dataclass(frozen=True, kw_only=True)
class Observed:
    """One series value of a window: its series (`anomaly_stats.SERIES`), the stored metric name, column."""

    series: SeriesName
    metric: str
    column: str
    value: float
    rule: AnomalyRule


def judge_series(
    model: ModelConfig, results: Engine, window: Window, family: str, found: Sequence[Observed]
) -> list[Metric]:
    """Each observed value against the `ok` rows of the same (family, column, metric) in earlier windows
    of its seasonal bucket: one bounded range read for all of them."""
    if not found:
        return []
    cfg = model.anomalies
    since, limit = _reach(model, window, [o.rule for o in found], len(found))
    names = sorted({o.metric for o in found})
    history: dict[tuple[str, str], list[tuple[dt.datetime, float]]] = defaultdict(list)
    for start, column, metric, value in healthy_history(results, model.name, family, names, since, window.start, limit):
        history[(metric, column)].append((start, value))
    out = []
    for o in found:
        rule, value = o.rule, o.value
        bucket = bucket_of(utc_naive(window.start), rule.seasonality)
        past = [v for at, v in history[(o.metric, o.column)] if bucket_of(at, rule.seasonality) == bucket]
        verdict = judge(value, past[: cfg.history_windows], rule)
        status: Status = cfg.status if verdict.anomalous else "ok"
        info = series_info(o.series)
        details = AnomalyDetails(
            series=o.metric.removeprefix(QUALITY_PREFIX) if o.series == "quality" else info.label,
            source=info.source,
            judged=verdict.judged,
            reason=verdict.reason,
            n_history=verdict.n_history,
            mean=verdict.mean,
            std=verdict.std,
            z=verdict.z,
            min_change=verdict.min_change,
            sensitivity=rule.sensitivity,
            direction=rule.direction,
            min_history=rule.min_history,
            seasonality=rule.seasonality,
            bucket=bucket,
            change=_change_text(value, verdict.mean, verdict.std, verdict.z, verdict.n_history)
            + seasonality_text(rule.seasonality, bucket)
            if verdict.judged
            else "",
        )
        out.append(
            Metric(
                check=family,
                column=o.column,
                metric=o.metric,
                value=value,
                status=status,
                threshold=rule.sensitivity,
                details=details,
            )
        )
    return out


def _change_text(value: float, mean: float | None, std: float | None, z: float | None, n: int) -> str:
    if not std:  # a constant history: any change is "infinitely" many std away, so z says nothing
        return f"{value:.4g} vs a constant {mean or 0:.4g} over {n} windows"
    return f"{value:.4g} vs {mean or 0:.4g} ± {std:.3g} over {n} windows, z {z or 0:+.1f}"


def seasonality_text(seasonality: Seasonality | str, bucket: str) -> str:
    """'' or ' (Saturdays)' / ' (07:00 windows)' for the readable sentence."""
    if seasonality == "day_of_week" and bucket:
        return f" ({bucket}s)"
    if seasonality == "hour_of_day" and bucket:
        return f" ({bucket} windows)"
    return ""


ANOMALIES = WindowCheck(
    name="anomalies",
    family=FAMILY,
    summary="volume, latency p95, error rate, prediction mean and NULL shares (drift scores on request) as a "
    "z-score against the model's own earlier windows that did not alert, by weekday or hour with seasonality",
    statuses={
        "warning": "a value at least anomalies.sensitivity std from its history (in anomalies.direction) and "
        "by more than the minimum change (anomalies.status: warning or alert)",
    },
    run=lambda ctx: anomaly_metrics(ctx.model, ctx.results_engine, ctx.window, ctx.produced),
)
