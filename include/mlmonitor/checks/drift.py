"""The drift check: feature and prediction drift of a window against the training baseline.

One aggregate query over the window counts every monitored column in its frozen bins (no raw rows
leave the warehouse); each column then gives two signals, decided together across the window.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TypedDict

from sqlalchemy.engine import Engine

from mlmonitor import profile as prof
from mlmonitor.checks.base import History, WindowCheck, WindowContext
from mlmonitor.checks.drift_methods import distances, drift_method
from mlmonitor.checks.drift_stats import (
    ColumnInput,
    ColumnKind,
    PastWindow,
    Signal,
    SignalDecision,
    decide_signals,
    distribution_pvalue,
    null_rates,
    pool,
    proportion_pvalue,
)
from mlmonitor.checks.drift_thresholds import Resolved, resolve, window_size_off
from mlmonitor.config import DriftRule, ModelConfig
from mlmonitor.errors import ConfigError
from mlmonitor.limits import VALUE_CHARS, clip
from mlmonitor.metrics import Metric, Status
from mlmonitor.names import derive_hint
from mlmonitor.storage.baselines import Baseline, NumericBaseline
from mlmonitor.storage.results import read_metrics
from mlmonitor.warehouse import ModelTables, window_filter
from mlmonitor.window import Window, as_utc

NULL_RATE_METRIC = "null_rate_shift"
NULL_RATE_WHY = (
    "absolute change of the NULL share; NULLs are kept out of the distribution buckets, so a null "
    "surge is its own signal; evidence from Fisher's exact test, valid even when training had no NULLs"
)
EVIDENCE = (
    "chi-squared homogeneity test of training vs window counts (accounts for both sample sizes), "
    "Benjamini-Hochberg across all signals of the window"
)
NUMERIC_EVIDENCE = (
    "chi-squared homogeneity test of training vs window counts and z-test of the exact window mean "
    "(Bonferroni of the two), Benjamini-Hochberg across all signals of the window"
)
NULL_EVIDENCE = "Fisher's exact test, Benjamini-Hochberg across all signals"
DRIFTED_SHARE = "drifted_share"
WINDOW_ROWS = "threshold_window_rows"
ACCUMULATED_RULE = (
    "counts of this window and the stored windows just before it pooled as one window, judged by the same "
    "effect size (threshold for the pooled rows) and tests, Benjamini-Hochberg across the pooled signals"
)
NO_TRAINING_VALUES = (
    "no training value (all NULL or not finite): the distribution cannot be compared and never drifts; "
    "values arriving show as a null-rate shift; derive the baseline from training data that has this column"
)


class UnseenValue(TypedDict):
    value: str
    count: int


class BinnedCounts(TypedDict):
    """The counts a distribution row compared, kept with the window so the dashboard can show what moved
    (histogram, category shares, binned mean and quantiles) without raw rows or the current baseline."""

    kind: ColumnKind
    edges: list[float]  # numeric: the frozen inner bin edges (bin i holds [edges[i-1], edges[i]); tails open)
    bin_means: list[float]  # numeric: training mean of each bin
    categories: list[str]  # categorical: the training top-K values; the last count is "other"
    training: list[int]  # non-NULL training values per bin / category
    window: list[int]  # non-NULL window values per bin / category
    window_mean: float | None  # numeric: the exact window mean (None for categorical columns)


class AccumulatedDetails(TypedDict):
    """The decision of a signal over this window pooled with the stored windows just before it."""

    windows: list[str]  # the contributing windows' starts, oldest first (this window last)
    n_window: int  # rows of the pooled windows
    threshold: float
    threshold_why: str
    effect_size: float
    p_value: float
    q_value: float  # Benjamini-Hochberg across the pooled signals of this window
    decision: str
    rule: str


class DriftDetails(TypedDict, total=False):
    """Audit trail of one drift signal (a column's distribution row or its null-rate row)."""

    method: str
    why: str
    evidence: str
    kind: ColumnKind
    n_train: int
    n_window: int
    bins_version: int
    fdr: float
    threshold: float
    threshold_why: str  # learned from the training chunks (their spread, size, rescaling) or fixed, and where
    effect_size: float
    p_value: float
    q_value: float
    decision: str  # "drift" | "no drift" (this window, or its accumulated evidence)
    accumulated: AccumulatedDetails  # with drift.accumulate on: the decision over the pooled windows
    distances: dict[str, float]  # distribution rows: every distance of the column's kind
    unseen_values: list[UnseenValue]  # categorical distribution rows with values unseen in training
    counts: BinnedCounts  # distribution rows: training vs window counts
    training_null_rate: float  # null-rate rows
    note: str  # distribution rows of a column without training values: why nothing is compared
    window_null_rate: float


class WindowRowsDetails(TypedDict):
    learned_window_rows: int
    window_rows: int
    relearn_factor: float
    why: str


class DriftedShareDetails(TypedDict):
    drifted_columns: list[str]
    columns: int
    rule: str


@dataclass(frozen=True, kw_only=True)
class ColumnResult:
    """A column's two decided signals: the distribution of its non-NULL values and its NULL share, in
    this window and, with accumulated evidence, over this window and the stored ones before it."""

    input: ColumnInput
    distances: dict[str, float]
    distribution: SignalDecision
    null_rate: SignalDecision
    pooled: ColumnInput | None = None
    accumulated: tuple[SignalDecision, SignalDecision] | None = None  # (distribution, NULL share)

    @property
    def distribution_drifted(self) -> bool:
        return self.distribution.drifted or (self.accumulated is not None and self.accumulated[0].drifted)

    @property
    def null_rate_drifted(self) -> bool:
        return self.null_rate.drifted or (self.accumulated is not None and self.accumulated[1].drifted)

    @property
    def drifted(self) -> bool:
        return self.distribution_drifted or self.null_rate_drifted


def _signals(c: ColumnInput) -> tuple[dict[str, float], Signal, Signal]:
    """Every distance of the column, its distribution signal and its NULL-share signal."""
    d = distances(c)
    if c.method not in d:  # a method of another kind than the column's: refused by the config first
        d[c.method] = drift_method(c.method, c.kind).measure(c)
    dist = Signal(
        column=c.column, metric=c.method, effect=d[c.method], threshold=c.threshold, p_value=distribution_pvalue(c)
    )
    ref_rate, cur_rate = null_rates(c)
    p = proportion_pvalue(
        c.reference_nulls, sum(c.reference) + c.reference_nulls, c.current_nulls, sum(c.current) + c.current_nulls
    )
    null = Signal(
        column=c.column, metric=NULL_RATE_METRIC, effect=abs(cur_rate - ref_rate), threshold=c.null_threshold, p_value=p
    )
    return d, dist, null


def assess(columns: Sequence[ColumnInput], fdr: float, pooled: Sequence[ColumnInput | None] = ()) -> list[ColumnResult]:
    """Two signals per column, decided together: the distribution of the non-NULL values (the
    rule's effect size + chi-squared homogeneity test of the counts, and for numeric columns a
    z-test of the exact mean) and the NULL share (absolute change + Fisher's exact test).
    Benjamini-Hochberg runs across all 2 x columns signals.

    `pooled[i]` (when given and not None) is column i over this window and the stored ones before it:
    its two signals are decided the same way, Benjamini-Hochberg across all pooled signals, and a
    column drifts when either decision says so."""
    signals: list[Signal] = []
    found: list[dict[str, float]] = []
    for c in columns:
        d, dist, null = _signals(c)
        found.append(d)
        signals += [dist, null]
    decisions = decide_signals(signals, fdr)
    pools = list(pooled) or [None] * len(columns)
    acc_signals = [s for p in pools if p is not None for s in _signals(p)[1:]]
    acc = iter(decide_signals(acc_signals, fdr))
    return [
        ColumnResult(
            input=c,
            distances=d,
            distribution=decisions[2 * i],
            null_rate=decisions[2 * i + 1],
            pooled=p,
            accumulated=None if p is None else (next(acc), next(acc)),
        )
        for i, (c, d, p) in enumerate(zip(columns, found, pools, strict=True))
    ]


def _inputs(
    model: ModelConfig, baseline: Baseline, counts: dict[str, prof.ColumnCounts], plan: dict[str, DriftRule]
) -> list[ColumnInput]:
    out = []
    numeric: dict[str, NumericBaseline] = {**baseline.numeric, model.prediction.column: baseline.prediction}
    for name, rule in plan.items():
        cur = counts[name]
        if name in numeric:
            nb = numeric[name]
            ref, ref_nulls, scale = nb.counts, nb.nulls, nb.std or 0.0
            ref_mean, cur_mean = nb.mean, cur.mean
            atoms = nb.bin_means or ([nb.edges[0], *nb.edges] if nb.edges else [0.0])
            kind: ColumnKind = "numeric"
        else:
            cb = baseline.categorical[name]
            ref = [cb.top[v] for v in sorted(cb.top)] + [cb.other]
            ref_nulls, atoms, scale, kind = cb.nulls, [], 0.0, "categorical"
            ref_mean = cur_mean = None
        t = _thresholds(model, baseline, name, rule, kind, cur.total)
        out.append(
            ColumnInput(
                column=name,
                kind=kind,
                method=rule.method,
                threshold=t.threshold,
                null_threshold=t.null_threshold,
                threshold_why=t.why,
                null_threshold_why=t.null_why,
                reference=ref,
                reference_nulls=ref_nulls,
                current=cur.counts,
                current_nulls=cur.nulls,
                atoms=atoms,
                scale=scale,
                reference_mean=ref_mean,
                current_mean=cur_mean,
            )
        )
    return out


def _thresholds(
    model: ModelConfig, baseline: Baseline, name: str, rule: DriftRule, kind: ColumnKind, rows: int
) -> Resolved:
    return resolve(
        learned=baseline.learned,
        column=name,
        method=rule.method,
        threshold=rule.threshold,
        null_threshold=rule.null_threshold,
        explicit=model.drift.explicit(name, kind),
        window_rows=rows,
        floor=model.drift.learned.floor,
        null_default=model.drift.null_rate_threshold,
    )


def accumulates(model: ModelConfig, rows: int) -> bool:
    """Whether this window's evidence is pooled with the windows before it (drift.accumulate)."""
    mode = model.drift.accumulate.mode
    return mode == "on" or (mode == "auto" and rows < model.drift.accumulate.below_rows)


def past_windows(
    history: History, window: Window, inputs: Sequence[ColumnInput], count: int
) -> dict[str, list[PastWindow]]:
    """Per column, its counts in the (up to) `count` stored windows just before `window` (those starting
    within `count` window lengths of it), newest first, read from their drift rows' details; a window
    counted against other bins or another training table (another baseline), or an ad-hoc window, is left out."""
    since = window.start - count * (window.end - window.start)
    wanted = {c.column: c for c in inputs}
    found: dict[str, list[PastWindow]] = {}
    stored = read_metrics(history.engine, history.model, since=since, until=window.start, scheduled_only=True)
    for row in reversed(stored):
        c = wanted.get(row["column_name"])
        if row["check_name"] != "drift" or c is None or row["metric"] != c.method:
            continue
        if as_utc(row["window_start"]) >= window.start or len(found.get(c.column, [])) >= count:
            continue
        details = json.loads(row["details"]) if isinstance(row["details"], str) else row["details"]
        counts = details.get("counts") or {}
        if counts.get("training") != list(c.reference) or len(counts.get("window", [])) != len(c.current):
            continue
        window_counts = [int(n) for n in counts["window"]]
        found.setdefault(c.column, []).append(
            PastWindow(
                label=as_utc(row["window_start"]).isoformat(),
                counts=window_counts,
                nulls=int(details["n_window"]) - sum(window_counts),
                mean=counts.get("window_mean"),
            )
        )
    return found


def _pooled(
    model: ModelConfig,
    baseline: Baseline,
    inputs: Sequence[ColumnInput],
    past: dict[str, list[PastWindow]],
    plan: dict[str, DriftRule],
) -> list[ColumnInput | None]:
    """Each column over this window and its stored windows before it (None without any), judged by
    the thresholds of a window of the pooled size."""
    out: list[ColumnInput | None] = []
    for c in inputs:
        before = past.get(c.column)
        if not before:
            out.append(None)
            continue
        p = pool(c, before)
        t = _thresholds(model, baseline, c.column, plan[c.column], c.kind, sum(p.current) + p.current_nulls)
        why = replace(p, threshold_why=t.why, null_threshold_why=t.null_why)
        out.append(replace(why, threshold=t.threshold, null_threshold=t.null_threshold))
    return out


def drift_plan(
    model: ModelConfig,
    baseline: Baseline,
    columns: Sequence[str] | None = None,
    servable: Sequence[str] | None = None,
) -> dict[str, DriftRule]:
    """The rule of every monitored column: the baseline's features (of the `columns` subset, and among
    the `servable` ones: a feature missing or retyped in serving is left out), then the prediction."""
    known = {*baseline.numeric, *baseline.categorical, model.prediction.column}
    unknown = sorted(set(model.drift.columns) - known)
    if unknown:
        raise ConfigError(
            f"{model.name}: drift.columns names {unknown}, which are not monitored columns "
            f"({', '.join(sorted(known))}); fix the column names in the model YAML"
        )
    wanted = set(columns) if columns else None
    plan: dict[str, DriftRule] = {}
    kinds: list[tuple[str, ColumnKind]] = [(n, "numeric") for n in baseline.numeric]
    kinds += [(n, "categorical") for n in baseline.categorical]
    for name, kind in [*kinds, (model.prediction.column, "numeric")]:
        feature = name != model.prediction.column
        if feature and ((wanted is not None and name not in wanted) or (servable is not None and name not in servable)):
            continue
        rule = model.drift.rule(name, kind)
        if rule is not None:
            plan[name] = rule
    return plan


def drift_metrics(
    engine: Engine,
    model: ModelConfig,
    tables: ModelTables,
    baseline: Baseline,
    window: Window,
    columns: Sequence[str] | None = None,
    history: History | None = None,
) -> list[Metric]:
    """Feature and prediction drift from ONE aggregate query over the window, decided per signal
    (effect size AND BH-controlled evidence), plus the dataset-level drifted share. With `history`
    (the stored metrics before the window) and drift.accumulate on for this window's size, each
    column's counts are also pooled with those of the windows just before it and decided again."""
    where = window_filter(tables.ts(model), window)
    plan = drift_plan(model, baseline, columns, tables.features)
    numeric = {**baseline.numeric, model.prediction.column: baseline.prediction}
    rows, counts = prof.window_counts(
        engine,
        tables.serving,
        {n: numeric[n].edges for n in plan if n in numeric},
        {n: sorted(baseline.categorical[n].top) for n in plan if n not in numeric},
        where,
    )
    inputs = _inputs(model, baseline, counts, plan)
    pooled: list[ColumnInput | None] = []
    past: dict[str, list[PastWindow]] = {}
    if history is not None and accumulates(model, rows):
        past = past_windows(history, window, inputs, model.drift.accumulate.windows - 1)
        pooled = _pooled(model, baseline, inputs, past, plan)
    results = assess(inputs, model.drift.fdr, pooled)
    out: list[Metric] = []
    for r in results:
        unseen = None
        c = r.input
        if c.kind == "categorical" and c.current[-1] and c.reference[-1] == 0:
            unseen = prof.unseen_values(
                engine, tables.serving.c[c.column], sorted(baseline.categorical[c.column].top), where
            )
        out += _column_rows(model, baseline, r, unseen, past.get(c.column, []), window)
    drifted = [r.input.column for r in results if r.drifted]
    share = len(drifted) / len(results) if results else 0.0
    dataset_status: Status = "alert" if share >= model.drift.dataset_drift_share else "ok"
    details: DriftedShareDetails = {
        "drifted_columns": drifted,
        "columns": len(results),
        "rule": "alert when the share of columns with a drifted signal reaches dataset_drift_share",
    }
    learned, factor = baseline.learned, model.drift.learned.relearn_factor
    if learned is not None and window_size_off(learned, rows, factor):
        size: WindowRowsDetails = {
            "learned_window_rows": learned.window_rows,
            "window_rows": rows,
            "relearn_factor": factor,
            "why": f"the drift thresholds were learned for windows of {learned.window_rows} rows "
            f"({learned.window_rows_source}) and this window has {rows}: they are rescaled meanwhile; "
            f"re-derive the baseline to learn them again: {derive_hint(model.name)}",
        }
        out.append(
            Metric(
                check="drift",
                column="",
                metric=WINDOW_ROWS,
                value=float(rows),
                status="warning",
                threshold=float(learned.window_rows),
                details=size,
            )
        )
    out.append(
        Metric(
            check="drift",
            column="",
            metric=DRIFTED_SHARE,
            value=share,
            status=dataset_status,
            threshold=model.drift.dataset_drift_share,
            details=details,
        )
    )
    return out


def _column_rows(
    model: ModelConfig,
    baseline: Baseline,
    r: ColumnResult,
    unseen: list[tuple[str, int]] | None,
    past: Sequence[PastWindow] = (),
    window: Window | None = None,
) -> list[Metric]:
    """The decision row of the distribution (every other distance in its details) and the null-rate row;
    with accumulated evidence, its decision over the pooled windows in `details.accumulated`."""
    c = r.input
    ref_rate, cur_rate = null_rates(c)

    def audit(d: SignalDecision, why: str, evidence: str, threshold_why: str) -> DriftDetails:
        return {
            "method": d.signal.metric,
            "why": why,
            "evidence": evidence,
            "kind": c.kind,
            "n_train": sum(c.reference) + c.reference_nulls,
            "n_window": sum(c.current) + c.current_nulls,
            "bins_version": baseline.bins_version,
            "fdr": model.drift.fdr,
            "threshold": d.signal.threshold,
            "threshold_why": threshold_why,
            "effect_size": d.signal.effect,
            "p_value": d.signal.p_value,
            "q_value": d.q_value,
            "decision": "drift" if d.drifted else "no drift",
        }

    dist, nulls = r.distribution, r.null_rate
    evidence = NUMERIC_EVIDENCE if c.current_mean is not None else EVIDENCE
    main = audit(dist, drift_method(c.method).why, evidence, c.threshold_why)
    main["distances"] = r.distances
    main["counts"] = binned_counts(baseline, c)
    if unseen:
        main["unseen_values"] = [{"value": clip(v, VALUE_CHARS), "count": n} for v, n in unseen]
    if not sum(c.reference):
        main["note"] = NO_TRAINING_VALUES
    null_details = audit(nulls, NULL_RATE_WHY, NULL_EVIDENCE, c.null_threshold_why)
    null_details["training_null_rate"], null_details["window_null_rate"] = ref_rate, cur_rate
    if r.accumulated is not None and r.pooled is not None:
        labels = [*(p.label for p in reversed(past)), window.start.isoformat() if window else "this window"]
        n = sum(r.pooled.current) + r.pooled.current_nulls
        for details, d, why in (
            (main, r.accumulated[0], r.pooled.threshold_why),
            (null_details, r.accumulated[1], r.pooled.null_threshold_why),
        ):
            details["accumulated"] = {
                "windows": labels,
                "n_window": n,
                "threshold": d.signal.threshold,
                "threshold_why": why,
                "effect_size": d.signal.effect,
                "p_value": d.signal.p_value,
                "q_value": d.q_value,
                "decision": "drift" if d.drifted else "no drift",
                "rule": ACCUMULATED_RULE,
            }
            if d.drifted:
                details["decision"] = "drift"
    return [
        Metric(
            check="drift",
            column=c.column,
            metric=c.method,
            value=dist.signal.effect,
            status="warning" if r.distribution_drifted else "ok",
            threshold=c.threshold,
            p_value=dist.q_value,
            details=main,
        ),
        Metric(
            check="drift",
            column=c.column,
            metric=NULL_RATE_METRIC,
            value=cur_rate - ref_rate,
            status="warning" if r.null_rate_drifted else "ok",
            threshold=c.null_threshold,
            p_value=nulls.q_value,
            details=null_details,
        ),
    ]


def binned_counts(baseline: Baseline, c: ColumnInput) -> BinnedCounts:
    """The training and window counts of a column as stored in its distribution row's details."""
    numeric = baseline.prediction if c.column not in baseline.numeric and c.kind == "numeric" else None
    nb = baseline.numeric.get(c.column, numeric)
    return BinnedCounts(
        kind=c.kind,
        edges=list(nb.edges) if nb is not None else [],
        bin_means=list(nb.bin_means) if nb is not None else [],
        categories=sorted(baseline.categorical[c.column].top) if c.kind == "categorical" else [],
        training=[int(n) for n in c.reference],
        window=[int(n) for n in c.current],
        window_mean=c.current_mean,
    )


def _run(ctx: WindowContext) -> list[Metric]:
    return drift_metrics(ctx.engine, ctx.model, ctx.tables, ctx.baseline, ctx.window, ctx.columns, ctx.history)


DRIFT = WindowCheck(
    name="drift",
    family="drift",
    summary="feature and prediction drift against training: per column its distribution (the configured "
    "effect size and a chi-squared test) and its NULL share, Benjamini-Hochberg across the window",
    statuses={
        "warning": "a column's distribution or NULL share drifted, or the window's size is more than "
        "drift.learned.relearn_factor times off the size the thresholds were learned for",
        "alert": "the share of drifted columns reached drift.dataset_drift_share",
    },
    run=_run,
)
