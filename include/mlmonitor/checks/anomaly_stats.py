"""History-aware anomalies, the pure part: which stored series are judged, the seasonal bucket of a
window, and the z-score decision of one value against its own history (Elementary's anchor).

No I/O: `checks.anomalies` reads the history and builds the rows; this module decides.
"""

from __future__ import annotations

import datetime as dt
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

Seasonality = Literal["none", "day_of_week", "hour_of_day"]
Direction = Literal["both", "up", "down"]
SeriesName = Literal["rows", "latency_p95", "error_rate", "prediction_mean", "null_share", "drift_score", "quality"]


@dataclass(frozen=True, kw_only=True)
class SeriesInfo:
    """One series the anomaly check can judge.

    Attributes:
        name: its key in the YAML (`anomalies.series.<name>`) and the `metric` of its rows.
        label: what it is, in words.
        source: the stored row it is read from (`check:metric`, the column where it has one).
        enabled: judged by default.
        min_absolute_change: a change smaller than this is never an anomaly (a floor for this series).
        why_off: why it is off by default ('' when on).
    """

    name: SeriesName
    label: str
    source: str
    enabled: bool = True
    min_absolute_change: float = 0.0
    why_off: str = ""


SERIES: tuple[SeriesInfo, ...] = (
    SeriesInfo(name="rows", label="request volume", source="health:rows"),
    SeriesInfo(name="latency_p95", label="latency p95", source="health:p95 of serving.latency_column"),
    SeriesInfo(
        name="error_rate",
        label="error rate",
        source="health:error_rate of serving.status_column",
        min_absolute_change=0.005,
    ),
    SeriesInfo(name="prediction_mean", label="prediction mean", source="stats:mean of the prediction"),
    SeriesInfo(
        name="null_share",
        label="NULL share",
        source="drift:null_rate_shift (its window_null_rate) per column",
        min_absolute_change=0.01,
    ),
    SeriesInfo(
        name="quality",
        label="quality",
        source="performance:<metric> with at least labels.min_labels labels (stored as anomaly:<metric>)",
        enabled=False,
        why_off="realized quality is already judged against its baseline with its standard error (labels.tolerance); "
        "ratios of a few hundred labels (recall, precision, F1) are noisy enough that six metrics judged at |z| >= 3 "
        "in every window would give false alarms every few weeks",
    ),
    SeriesInfo(
        name="drift_score",
        label="drift score",
        source="drift:<method> effect size per column",
        enabled=False,
        why_off="a drift score already compares each window with training (effect size and a test); its history "
        "drifts with the population, so a gradual drift would train its own baseline, and its scale follows the "
        "window's size",
    ),
)
SERIES_NAMES: tuple[SeriesName, ...] = tuple(s.name for s in SERIES)


def series_info(name: str) -> SeriesInfo:
    return next(s for s in SERIES if s.name == name)


def bucket_of(at: dt.datetime, seasonality: Seasonality) -> str:
    """The seasonal bucket of a window by its start (UTC): '' (none), 'Monday' ..., or '07:00'."""
    if seasonality == "day_of_week":
        return at.strftime("%A")
    if seasonality == "hour_of_day":
        return f"{at.hour:02d}:00"
    return ""


def bucket_period(seasonality: Seasonality) -> dt.timedelta:
    """How often a bucket recurs (the history to read is this times the windows wanted)."""
    return {"none": dt.timedelta(0), "day_of_week": dt.timedelta(days=7), "hour_of_day": dt.timedelta(days=1)}[
        seasonality
    ]


@dataclass(frozen=True, kw_only=True)
class AnomalyRule:
    """How one series is judged (the model's `anomalies` settings with the series' overrides)."""

    seasonality: Seasonality = "none"
    direction: Direction = "both"
    min_history: int = 14
    sensitivity: float = 3.0
    min_relative_change: float = 0.1
    min_absolute_change: float = 0.0


@dataclass(frozen=True, kw_only=True)
class Judgement:
    """One value against its history: `anomalous` only when judged (enough history), far enough in
    standard deviations, in the watched direction and by more than the minimum change."""

    judged: bool
    anomalous: bool
    n_history: int
    mean: float | None = None
    std: float | None = None
    z: float | None = None
    min_change: float | None = None
    reason: str = ""


def judge(value: float, history: Sequence[float], rule: AnomalyRule) -> Judgement:
    """z = (value - mean) / std of the history (sample std, floored so a constant history still
    gives a finite z); an anomaly when |z| >= sensitivity, the change is in `direction` and at least
    max(min_absolute_change, min_relative_change x |mean|)."""
    n = len(history)
    if n < rule.min_history:
        return Judgement(
            judged=False, anomalous=False, n_history=n, reason=f"{n} of {rule.min_history} windows of history"
        )
    mean = statistics.fmean(history)
    std = statistics.stdev(history) if n > 1 else 0.0
    floor = 1e-9 * max(1.0, abs(mean))
    z = (value - mean) / max(std, floor)
    z = max(min(z, 1e9), -1e9)  # finite, so it stores as JSON
    change = value - mean
    min_change = max(rule.min_absolute_change, rule.min_relative_change * abs(mean))
    way = rule.direction == "both" or (rule.direction == "up") == (change > 0)
    far = abs(z) >= rule.sensitivity
    material = abs(change) >= min_change and change != 0
    anomalous = far and material and way
    if anomalous:
        reason = f"{'above' if change > 0 else 'below'} its history by {abs(z):.1f} std"
    elif not far:
        reason = f"within {rule.sensitivity:g} std of its history"
    elif not material:
        reason = f"a change of {abs(change):.4g}, under the minimum {min_change:.4g}"
    else:
        reason = f"{'up' if change > 0 else 'down'}, but only {rule.direction} changes are watched"
    return Judgement(
        judged=True,
        anomalous=anomalous,
        n_history=n,
        mean=mean,
        std=std,
        z=z if math.isfinite(z) else None,
        min_change=min_change,
        reason=reason,
    )
