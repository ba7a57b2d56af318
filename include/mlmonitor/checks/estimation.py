"""Confidence-based performance estimation (NannyML's CBPE), the pure part: a calibration map learned
on the labelled training rows, and the expected confusion matrix and ROC AUC of a window's predictions
under it, with standard errors.

If the model's calibrated probabilities stay right on serving data (covariate shift: the inputs move,
P(y | x) does not), the expected metrics equal the realized ones on average. Under concept drift
(P(y | x) changes) the calibration is wrong and the estimate misses: only labels see that.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from mlmonitor.checks.scores import auc_se, roc_auc

CALIBRATION_BINS = 50  # equal-width probability bins of the calibration map
SCORE_RESOLUTION = 1000  # predictions are grouped by their probability rounded to 1e-3 in SQL
ESTIMATED = ("accuracy", "precision", "recall", "f1", "roc_auc")  # what CBPE estimates (not log loss)

Scores = dict[str, tuple[float | None, float | None]]  # metric -> (value, standard error)
Spreads = dict[str, float | None]  # metric -> standard deviation of the realized metric around the estimate


def bin_of(score: float, bins: int = CALIBRATION_BINS) -> int:
    return min(max(int(score * bins), 0), bins - 1)


def isotonic(counts: Sequence[int], positives: Sequence[float]) -> list[float]:
    """The positive rate per bin made non-decreasing by pool-adjacent-violators (weighted by counts);
    empty bins take the value interpolated between their non-empty neighbours."""
    blocks: list[list[float]] = []  # [positives, count, first bin, last bin]
    for i, (n, k) in enumerate(zip(counts, positives, strict=True)):
        if n <= 0:
            continue
        blocks.append([k, n, i, i])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] > blocks[-1][0] / blocks[-1][1]:
            merged = blocks.pop()
            blocks[-1][0] += merged[0]
            blocks[-1][1] += merged[1]
            blocks[-1][3] = merged[3]
    if not blocks:
        return [0.0] * len(counts)
    known: dict[int, float] = {}
    for pooled, weight, first, last in blocks:
        for i in range(int(first), int(last) + 1):
            if counts[i] > 0:
                known[i] = pooled / weight
    xs = sorted(known)
    out = []
    for i in range(len(counts)):
        if i in known:
            out.append(known[i])
            continue
        lo = max((x for x in xs if x < i), default=None)
        hi = min((x for x in xs if x > i), default=None)
        if lo is None and hi is not None:
            out.append(known[hi])
        elif hi is None and lo is not None:
            out.append(known[lo])
        elif lo is not None and hi is not None:
            out.append(known[lo] + (known[hi] - known[lo]) * (i - lo) / (hi - lo))
    return out


def calibrated(score: float, curve: Sequence[float]) -> float:
    """The calibrated probability of a predicted one: linear between the bin centres of the map."""
    bins = len(curve)
    x = score * bins - 0.5
    if x <= 0:
        return curve[0]
    if x >= bins - 1:
        return curve[-1]
    i = int(x)
    return curve[i] + (curve[i + 1] - curve[i]) * (x - i)


def expected_scores(groups: Sequence[tuple[float, bool, int]], curve: Sequence[float]) -> tuple[Scores, Spreads]:
    """Expected accuracy, precision, recall, F1 and ROC AUC of predictions grouped as (score, predicted
    positive, count), each calibrated by `curve`.

    Returns the estimates with the standard error a realized metric of this size has (binomial, as the
    performance check judges realized metrics; Hanley-McNeil for ROC AUC), used to judge them, and
    the spread of the realized metric around the estimate when the calibration holds (labels as
    independent Bernoulli draws of the calibrated probabilities; delta method for the ratios)."""
    rows = [(s, hit, n, calibrated(s, curve)) for s, hit, n in groups if n > 0]
    total = sum(n for *_, n, _ in rows)
    if not total:
        return {}, {}
    tp = sum(n * c for _, hit, n, c in rows if hit)
    fp = sum(n * (1 - c) for _, hit, n, c in rows if hit)
    fn = sum(n * c for _, hit, n, c in rows if not hit)
    var_hit = sum(n * c * (1 - c) for _, hit, n, c in rows if hit)  # variance of TP
    var_miss = sum(n * c * (1 - c) for _, hit, n, c in rows if not hit)  # variance of FN
    predicted, positives = tp + fp, tp + fn
    out: Scores = {}
    spread: Spreads = {}
    accuracy = (total - fp - fn) / total
    out["accuracy"] = (accuracy, _binomial(accuracy, total))
    spread["accuracy"] = math.sqrt(var_hit + var_miss) / total
    if predicted:
        precision = tp / predicted
        out["precision"], spread["precision"] = (
            (precision, _binomial(precision, predicted)),
            math.sqrt(var_hit) / predicted,
        )
    if positives:
        recall = tp / positives
        out["recall"] = (recall, _binomial(recall, positives))
        spread["recall"] = math.sqrt(var_hit * (1 - recall) ** 2 + var_miss * recall**2) / positives
    d = predicted + positives  # F1 = 2 TP / (predicted positives + actual positives)
    if d:
        f1 = 2 * tp / d
        d_tp, d_fn = (2 * d - 2 * tp) / d**2, -2 * tp / d**2
        out["f1"] = (f1, _binomial(f1, d / 2))
        spread["f1"] = math.sqrt(var_hit * d_tp**2 + var_miss * d_fn**2)
    by_score: dict[float, tuple[float, float]] = {}  # one group per score: ties count one half
    for s, _, n, c in rows:
        k0, n0 = by_score.get(s, (0.0, 0.0))
        by_score[s] = (k0 + n * c, n0 + n)
    auc = roc_auc([(s, k, n) for s, (k, n) in by_score.items()])
    if auc is not None:
        se = auc_se(auc, max(round(positives), 1), max(round(total - positives), 1))
        out["roc_auc"], spread["roc_auc"] = (auc, se), None
    return out, spread


def _binomial(share: float, n: float) -> float:
    return math.sqrt(max(share * (1 - share), 0.0) / n) if n > 0 else 0.0
