"""Quality metrics of labelled predictions: their names and the pure arithmetic behind them.

Declared here once: the model YAML's `labels.expected` keys, the performance check and the
renderers all take the metric names from this module.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

CLASSIFICATION = ("accuracy", "precision", "recall", "f1", "roc_auc", "log_loss")
REGRESSION = ("mae", "rmse", "mape")
LOWER_IS_BETTER = frozenset({"log_loss", "mae", "rmse", "mape"})
Z_SE = 4.0  # one-sided 4-sigma: about 3 in 100 000 per metric and window under no change


def share(k: int, n: int) -> tuple[float | None, float | None]:
    """A proportion and its binomial standard error."""
    if not n:
        return None, None
    v = k / n
    return v, math.sqrt(v * (1 - v) / n)


def mean_se(mean: float, mean_sq: float, n: int) -> float:
    return math.sqrt(max(mean_sq - mean * mean, 0.0) / n)


def auc_se(auc: float, positives: int, negatives: int) -> float:
    """Hanley & McNeil (1982) standard error of a ROC AUC."""
    q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)
    var = auc * (1 - auc) + (positives - 1) * (q1 - auc * auc) + (negatives - 1) * (q2 - auc * auc)
    return math.sqrt(max(var, 0.0) / (positives * negatives))


def roc_auc(histogram: Sequence[tuple[float, float, float]]) -> float | None:
    """ROC AUC from (score, positives, count) groups: the probability that a random positive
    outranks a random negative, ties counting one half (Mann-Whitney U). Positives may be expected
    (fractional) counts, as in performance estimation."""
    pos_total = sum(k for _, k, _ in histogram)
    neg_total = sum(c - k for _, k, c in histogram)
    if not pos_total or not neg_total:
        return None
    below = 0.0
    u = 0.0
    for _, k, c in sorted(histogram):
        neg = c - k
        u += k * (below + neg / 2)
        below += neg
    return u / (pos_total * neg_total)
