"""The prediction-statistics check: mean, std, min, max and median of the model output per window,
each beside its training value; the mean is judged against training by its standard error."""

from __future__ import annotations

import math
from typing import TypedDict

from sqlalchemy.engine import Engine

from mlmonitor import profile as prof
from mlmonitor.checks.base import WindowCheck
from mlmonitor.config import ModelConfig
from mlmonitor.metrics import Metric, Status
from mlmonitor.storage.baselines import Baseline
from mlmonitor.warehouse import ModelTables, window_filter
from mlmonitor.window import Window

# A prediction mean moves "materially" when it leaves training by this many training stds
# AND by more than this many standard errors of the window mean.
MEAN_SHIFT_STD = 0.1
MEAN_SHIFT_SE = 5.0


class StatDetails(TypedDict):
    training: float | None


class MeanDetails(TypedDict):
    training_mean: float | None
    training_std: float | None
    n_window: int
    z_standard_errors: float | None
    rule: str


def prediction_stats(
    engine: Engine, model: ModelConfig, tables: ModelTables, baseline: Baseline, window: Window
) -> list[Metric]:
    """Mean, std, min, max, median of the prediction; the mean checked against training by its standard error."""
    where = window_filter(tables.ts(model), window)
    col = tables.serving.c[model.prediction.column]
    p = prof.numeric_profile(engine, col, where, points=(0.5,))  # a window needs only its median
    ref = baseline.prediction
    out = [
        Metric(
            check="stats",
            column=model.prediction.column,
            metric=name,
            value=value,
            details=StatDetails(training=train),
        )
        for name, value, train in (
            ("std", p.std, ref.std),
            ("min", p.min, ref.min),
            ("max", p.max, ref.max),
            ("median", p.quantiles.get("0.5"), ref.quantiles.get("0.5")),
        )
    ]
    n = p.count - p.nulls - p.non_finite
    status: Status = "ok"
    z = None
    if p.mean is not None and ref.mean is not None and ref.std and n:
        z = (p.mean - ref.mean) / (ref.std / math.sqrt(n))
        material = abs(p.mean - ref.mean) > MEAN_SHIFT_STD * ref.std
        status = "warning" if material and abs(z) > MEAN_SHIFT_SE else "ok"
    details = MeanDetails(
        training_mean=ref.mean,
        training_std=ref.std,
        n_window=n,
        z_standard_errors=z,
        rule=f"warning when |z| > {MEAN_SHIFT_SE} and the shift exceeds {MEAN_SHIFT_STD} training std",
    )
    mean = Metric(
        check="stats",
        column=model.prediction.column,
        metric="mean",
        value=p.mean,
        status=status,
        threshold=MEAN_SHIFT_SE,
        details=details,
    )
    return [mean, *out]


PREDICTION_STATS = WindowCheck(
    name="prediction_stats",
    family="stats",
    summary="mean, median, std, min and max of the prediction per window, beside training",
    statuses={
        "warning": f"the prediction mean moved by more than {MEAN_SHIFT_STD:g} training std and {MEAN_SHIFT_SE:g} "
        "standard errors",
    },
    run=lambda ctx: prediction_stats(ctx.engine, ctx.model, ctx.tables, ctx.baseline, ctx.window),
)
