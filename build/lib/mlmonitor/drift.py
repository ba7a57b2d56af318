"""Drift statistics as small pure functions over binned counts, and the per-column decision.

Counts come from the warehouse (frozen training bins / top-K categories, plus a NULL bin so a
null-rate shift is drift too). A column drifts only when the effect size (PSI) passes its
threshold AND the chi-squared evidence survives Benjamini-Hochberg across columns: effect size
alone flags noise in small windows, p-values alone flag everything in large ones.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

_EPS = 1e-4


def _shares(counts: Sequence[float]) -> list[float]:
    total = float(sum(counts))
    return [c / total if total else 0.0 for c in counts]


def psi(reference: Sequence[float], current: Sequence[float], eps: float = _EPS) -> float:
    """Population stability index sum((c - r) * ln(c / r)) over bins, shares floored at `eps`."""
    r, c = _shares(reference), _shares(current)
    return float(
        sum((max(ci, eps) - max(ri, eps)) * math.log(max(ci, eps) / max(ri, eps)) for ri, ci in zip(r, c, strict=True))
    )


def chi2_pvalue(reference: Sequence[int], current: Sequence[int]) -> float:
    """p-value of the chi-squared homogeneity test of two count vectors (bins empty in both dropped)."""
    from scipy.stats import chi2_contingency

    pairs = [(r, c) for r, c in zip(reference, current, strict=True) if r + c > 0]
    if len(pairs) < 2 or sum(c for _, c in pairs) == 0:
        return 1.0
    table = [[r for r, _ in pairs], [c for _, c in pairs]]
    return float(chi2_contingency(table).pvalue)


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


@dataclass(frozen=True)
class ColumnDrift:
    column: str
    kind: str
    psi: float
    p_value: float
    n_train: int
    n_window: int


@dataclass(frozen=True)
class Decision:
    drift: ColumnDrift
    q_value: float
    drifted: bool


def decide(columns: Sequence[ColumnDrift], threshold: float, fdr: float) -> list[Decision]:
    """Drifted when PSI >= threshold and the BH-adjusted p-value < fdr."""
    qs = benjamini_hochberg([c.p_value for c in columns])
    return [Decision(c, q, c.psi >= threshold and q < fdr) for c, q in zip(columns, qs, strict=True)]
