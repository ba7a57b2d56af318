"""Drift statistics as small pure functions over binned counts, and the per-signal decision rule.

Counts come from the warehouse: per numeric column the counts in the frozen training bins, per
categorical column the counts of the top-K training values plus one "other" bucket; NULLs are
counted apart, because a null-rate shift is its own drift signal.

A signal drifts only when its effect size passes a threshold (is the change material?) AND the
two-sample test of the counts survives Benjamini-Hochberg across all signals of the window (is it
more than sampling noise at this window size?). Effect size alone flags noise in small windows;
p-values alone flag every negligible change in large ones.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from itertools import accumulate
from typing import Literal

_EPS = 1e-4


def shares(counts: Sequence[float]) -> list[float]:
    """Counts divided by their total (all zero for an empty vector)."""
    total = float(sum(counts))
    return [c / total if total else 0.0 for c in counts]


def psi(reference: Sequence[float], current: Sequence[float], eps: float = _EPS) -> float:
    """Population stability index sum((c - r) * ln(c / r)) over bins, shares floored at `eps`."""
    r, c = shares(reference), shares(current)
    return float(
        sum((max(ci, eps) - max(ri, eps)) * math.log(max(ci, eps) / max(ri, eps)) for ri, ci in zip(r, c, strict=True))
    )


def jensen_shannon(reference: Sequence[float], current: Sequence[float]) -> float:
    """Jensen-Shannon distance (square root of the divergence, log base 2): 0 identical .. 1 disjoint."""
    r, c = shares(reference), shares(current)

    def kl_to_mid(p: list[float], q: list[float]) -> float:
        return sum(pi * math.log2(2 * pi / (pi + qi)) for pi, qi in zip(p, q, strict=True) if pi > 0)

    divergence = 0.5 * kl_to_mid(r, c) + 0.5 * kl_to_mid(c, r)
    return math.sqrt(max(divergence, 0.0))


def ks_binned(reference: Sequence[float], current: Sequence[float]) -> float:
    """Kolmogorov-Smirnov statistic of the binned CDFs: max |F_ref - F_cur| over the bin edges.

    Exactly the KS distance of the two samples coarsened to the frozen bins (a lower bound on the
    raw-data KS): the raw version needs every value sorted, i.e. raw rows out of the warehouse."""
    r, c = list(accumulate(shares(reference))), list(accumulate(shares(current)))
    return max((abs(ri - ci) for ri, ci in zip(r[:-1], c[:-1], strict=True)), default=0.0)


def wasserstein_binned(
    reference: Sequence[float], current: Sequence[float], atoms: Sequence[float], scale: float
) -> float:
    """Wasserstein-1 distance between the binned distributions, in units of `scale` (the training std).

    Each bin is represented by one atom (the mean of the training values in it), so
    W1 = sum_j |F_ref(j) - F_cur(j)| * (atom[j+1] - atom[j]). A shift within the training range is
    measured faithfully; mass moving beyond the outermost training bin means is capped there.
    A constant training column (scale 0) has no unit to measure in: the share of window values
    that left its one value's bin is returned instead, so any change can drift."""
    if len(atoms) != len(reference):
        raise ValueError(f"{len(atoms)} atoms for {len(reference)} bins")
    if scale <= 0:
        return 0.5 * sum(abs(ri - ci) for ri, ci in zip(shares(reference), shares(current), strict=True))
    r, c = list(accumulate(shares(reference))), list(accumulate(shares(current)))
    distance = sum(abs(r[j] - c[j]) * (atoms[j + 1] - atoms[j]) for j in range(len(atoms) - 1))
    return distance / scale


def mean_shift(reference_mean: float | None, current_mean: float | None, scale: float) -> float:
    """|window mean - training mean| in units of `scale` (the training std), from the exact means.

    A lower bound of the Wasserstein-1 distance (W1 >= |E[X] - E[Y]|) that, unlike the binned
    distance, sees a shift that stays inside the bins; 0 when a mean is unknown."""
    if reference_mean is None or current_mean is None or scale <= 0:
        return 0.0
    return abs(current_mean - reference_mean) / scale


def mean_pvalue(
    reference_mean: float | None, reference_n: int, current_mean: float | None, current_n: int, scale: float
) -> float:
    """Two-sided z-test of the window mean against the training mean (training std for both samples;
    1.0 when undefined). The most powerful test of a location shift, which the binned chi-squared
    test sees only through the counts crossing bin edges."""
    from scipy.stats import norm

    if reference_mean is None or current_mean is None or scale <= 0 or reference_n == 0 or current_n == 0:
        return 1.0
    z = (current_mean - reference_mean) / (scale * math.sqrt(1 / current_n + 1 / reference_n))
    return float(2 * norm.sf(abs(z)))


def linf(reference: Sequence[float], current: Sequence[float]) -> float:
    """L-infinity distance: the largest change of one bucket's share."""
    return max((abs(ri - ci) for ri, ci in zip(shares(reference), shares(current), strict=True)), default=0.0)


def unseen_share(reference_other: int, reference_total: int, current_other: int, current_total: int) -> float:
    """Share of window values outside the training categories.

    Exact when training had no "other" bucket (every training value is tracked); otherwise the
    growth of the other bucket's share is the best the frozen top-K can tell, and it is returned."""
    if current_total == 0:
        return 0.0
    current = current_other / current_total
    if reference_other == 0:
        return current
    return max(current - reference_other / reference_total, 0.0)


def chi2_statistic(reference: Sequence[int], current: Sequence[int]) -> tuple[float, int]:
    """Pearson chi-squared statistic of the 2 x k homogeneity table, and its degrees of freedom.

    Buckets empty on both sides are dropped; the statistic is 0 with 0 degrees of freedom when fewer
    than two buckets or one side is empty."""
    pairs = [(r, c) for r, c in zip(reference, current, strict=True) if r + c > 0]
    nr, nc = sum(r for r, _ in pairs), sum(c for _, c in pairs)
    if len(pairs) < 2 or nr == 0 or nc == 0:
        return 0.0, 0
    n = nr + nc
    stat = 0.0
    for r, c in pairs:
        col = r + c
        er, ec = nr * col / n, nc * col / n
        stat += (r - er) ** 2 / er + (c - ec) ** 2 / ec
    return stat, len(pairs) - 1


def chi2_pvalue(reference: Sequence[int], current: Sequence[int]) -> float:
    """p-value of the chi-squared homogeneity test of two count vectors (1.0 when undefined)."""
    from scipy.stats import chi2

    stat, dof = chi2_statistic(reference, current)
    return 1.0 if dof == 0 else float(chi2.sf(stat, dof))


def proportion_pvalue(reference_hits: int, reference_n: int, current_hits: int, current_n: int) -> float:
    """Two-sided Fisher exact test of two proportions (e.g. null rates): valid at any count, even 0 expected."""
    from scipy.stats import fisher_exact

    if reference_n == 0 or current_n == 0:
        return 1.0
    table = [[reference_hits, reference_n - reference_hits], [current_hits, current_n - current_hits]]
    return float(fisher_exact(table).pvalue)


def benjamini_hochberg(pvalues: Sequence[float]) -> list[float]:
    """Benjamini-Hochberg adjusted p-values (q-values), in the input order."""
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i])
    adjusted = [1.0] * m
    running = 1.0
    for rank in range(m, 0, -1):
        i = order[rank - 1]
        running = min(running, pvalues[i] * m / rank)
        adjusted[i] = min(running, 1.0)
    return adjusted


ColumnKind = Literal["numeric", "categorical"]


@dataclass(frozen=True, kw_only=True)
class ColumnInput:
    """What a drift measure needs about one column: its rule, and training vs window counts.

    `reference` / `current` count the non-NULL values per frozen bin (numeric) or per tracked
    category with "other" last (categorical); NULLs are counted apart. `atoms` (training bin
    means), `scale` (training std) and the exact means serve the Wasserstein distance of numeric
    columns and their mean test."""

    column: str
    kind: ColumnKind
    method: str
    threshold: float
    null_threshold: float
    reference: Sequence[int]
    reference_nulls: int
    current: Sequence[int]
    current_nulls: int
    atoms: Sequence[float] = ()
    scale: float = 0.0
    reference_mean: float | None = None  # numeric: exact training mean of the non-NULL values
    current_mean: float | None = None  # numeric: exact window mean (from the same query as the counts)
    threshold_why: str = ""  # where `threshold` comes from (learned or fixed), for the audit trail
    null_threshold_why: str = ""


def null_rates(c: ColumnInput) -> tuple[float, float]:
    """(training, window) NULL share of the column."""
    n_ref, n_cur = sum(c.reference) + c.reference_nulls, sum(c.current) + c.current_nulls
    return (c.reference_nulls / n_ref if n_ref else 0.0), (c.current_nulls / n_cur if n_cur else 0.0)


def wasserstein(c: ColumnInput) -> float:
    """The binned Wasserstein-1 distance corrected by the exact-mean term: the larger of the two lower
    bounds of the true W1. Binning values each window value at its training bin mean, so a shift
    inside a bin shrinks; the exact means measure a location shift at its true size."""
    return max(wasserstein_binned(c.reference, c.current, c.atoms, c.scale), numeric_mean_shift(c))


def numeric_mean_shift(c: ColumnInput) -> float:
    return mean_shift(c.reference_mean, c.current_mean, c.scale)


def distribution_pvalue(c: ColumnInput) -> float:
    """Evidence that the non-NULL values changed: the chi-squared homogeneity test of the counts; for a
    numeric column with exact means also the z-test of the mean, the two joined by Bonferroni."""
    p = chi2_pvalue(c.reference, c.current)
    if c.kind != "numeric" or c.reference_mean is None or c.current_mean is None:
        return p
    z = mean_pvalue(c.reference_mean, sum(c.reference), c.current_mean, sum(c.current), c.scale)
    return min(1.0, 2 * min(p, z))


@dataclass(frozen=True, kw_only=True)
class PastWindow:
    """One column's counts in a stored earlier window (from its drift row's details)."""

    label: str
    counts: Sequence[int]
    nulls: int
    mean: float | None


def pool(c: ColumnInput, past: Sequence[PastWindow]) -> ColumnInput:
    """The column as if this window and the `past` ones were one window: counts and NULLs summed, the
    exact mean weighted by the non-NULL counts (unknown when one window's mean is)."""
    counts = [sum(bins) for bins in zip(c.current, *(p.counts for p in past), strict=True)]
    means = [(c.current_mean, sum(c.current)), *((p.mean, sum(p.counts)) for p in past)]
    present = sum(n for _, n in means)
    mean = None
    if c.current_mean is not None and all(m is not None for m, n in means if n) and present:
        mean = sum((m or 0.0) * n for m, n in means) / present
    return replace(c, current=counts, current_nulls=c.current_nulls + sum(p.nulls for p in past), current_mean=mean)


@dataclass(frozen=True, kw_only=True)
class Signal:
    """One drift signal of one column: its effect size against its threshold, and its raw p-value."""

    column: str
    metric: str
    effect: float
    threshold: float
    p_value: float


@dataclass(frozen=True, kw_only=True)
class SignalDecision:
    signal: Signal
    q_value: float
    drifted: bool


def decide_signals(signals: Sequence[Signal], fdr: float) -> list[SignalDecision]:
    """Drifted when effect >= threshold and the BH-adjusted p-value (across all signals) < fdr."""
    qs = benjamini_hochberg([s.p_value for s in signals])
    return [
        SignalDecision(signal=s, q_value=q, drifted=s.effect >= s.threshold and q < fdr)
        for s, q in zip(signals, qs, strict=True)
    ]
