"""Drift thresholds learned from the reference (NannyML's anchor: a metric's spread over reference chunks).

At derivation the training table is cut into chunks of the size a window is expected to have; every
signal's effect size is computed for every chunk against the whole training table (one SQL pass,
GROUP BY chunk: `profile.chunk_counts`). What a window of that size shows when nothing changed is
that spread, so the threshold is the chunks' mean + `sigmas` x their standard deviation (3 by
default, NannyML's band: for these right-skewed distances about the 99.5th percentile, and stable
with a few dozen chunks where an empirical 99th percentile is not), times sqrt((N + n) / (N - n))
because a chunk is part of the training table while a window is not. It is never below `floor` x the
method's default (a change that small is not material however sure the test is).

At run time a learned threshold is rescaled by sqrt(learned rows / window rows) (the sampling spread
of these distances shrinks as 1/sqrt(n)); an explicit threshold in the YAML (or the trigger form) wins.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from mlmonitor import profile as prof
from mlmonitor.checks.drift_methods import distances, drift_method, drift_methods
from mlmonitor.checks.drift_stats import ColumnInput, null_rates
from mlmonitor.config import LearnedThresholdsConfig, ModelConfig
from mlmonitor.storage.baselines import (
    Baseline,
    CategoricalBaseline,
    ColumnSpread,
    LearnedThresholds,
    NumericBaseline,
    Spread,
    learned_not_finite,
)
from mlmonitor.warehouse import ModelTables
from mlmonitor.window import as_utc, schedule_interval

NULL_SIGNAL = "null_rate_shift"


def spread(values: Sequence[float], sigmas: float, fpc: float) -> Spread:
    mean = sum(values) / len(values)
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / max(len(values) - 1, 1))
    return Spread(mean=mean, std=std, max=max(values), threshold=(mean + sigmas * std) * fpc)


def learn_column(
    reference: ColumnInput, chunks: Sequence[prof.ColumnCounts], sigmas: float, fpc: float
) -> ColumnSpread:
    """Every method's and the null share's spread over the chunks of one column (`reference` holds the
    whole training table's counts; each chunk is compared with it as a window would be)."""
    effects: dict[str, list[float]] = {m.name: [] for m in drift_methods(reference.kind)}
    nulls: list[float] = []
    for chunk in chunks:
        c = replace(reference, current=chunk.counts, current_nulls=chunk.nulls, current_mean=chunk.mean)
        found = distances(c)
        for name, values in effects.items():
            values.append(found[name])
        ref_rate, cur_rate = null_rates(c)
        nulls.append(abs(cur_rate - ref_rate))
    return ColumnSpread(
        effects={name: spread(v, sigmas, fpc) for name, v in effects.items()},
        null_rate=spread(nulls, sigmas, fpc),
    )


def learn(
    engine: Engine,
    table: sa.Table,
    references: Mapping[str, ColumnInput],
    bins: tuple[dict[str, Sequence[float]], dict[str, Sequence[str]]],
    cfg: LearnedThresholdsConfig,
    window_rows: int,
    source: str,
    order_by: str | None,
) -> tuple[LearnedThresholds | None, str]:
    """Learn every column's thresholds from chunks of `window_rows` training rows (None and the reason
    when the training table is too small for `cfg.min_chunks` chunks). `bins` are the frozen edges of
    the numeric columns and the tracked values of the categorical ones, as the window query takes them."""
    rows = prof.row_count(engine, table)
    k = rows // window_rows
    if k < cfg.min_chunks:
        return None, (
            f"the training table has {rows} rows: fewer than drift.learned.min_chunks ({cfg.min_chunks}) chunks "
            f"of {window_rows} rows ({source}); the fixed thresholds apply"
        )
    per_chunk = prof.chunk_counts(engine, table, bins[0], bins[1], k, order_by)
    n = rows / k
    fpc = math.sqrt((rows + n) / (rows - n))
    columns = {
        name: learn_column(ref, [counts[name] for _, counts in per_chunk], cfg.sigmas, fpc)
        for name, ref in references.items()
    }
    learned = LearnedThresholds(
        window_rows=round(n),
        window_rows_source=source,
        chunks=k,
        order_by=order_by,
        sigmas=cfg.sigmas,
        columns=columns,
    )
    return learned, f"learned from {k} training chunks of {round(n)} rows ({source})"


def expected_window_rows(
    model: ModelConfig, engine: Engine, serving: sa.Table, training: sa.Table
) -> tuple[int | None, str]:
    """The rows a window is expected to hold, and how that was found: `drift.learned.window_rows`; else
    the serving table's median rows per schedule interval over the (up to) 7 intervals before its
    newest row, empty ones left out (gaps in the logs); else the training table's rows per interval
    over its timestamp span; None when neither has a usable timestamp."""
    if model.drift.learned.window_rows is not None:
        return model.drift.learned.window_rows, "drift.learned.window_rows"
    served = _served_rows(model, engine, serving)
    if served is not None:
        return served
    ts = model.training.timestamp_column
    if ts is not None and ts in training.c:
        with engine.connect() as conn:
            stmt = sa.select(sa.func.count(), sa.func.min(training.c[ts]), sa.func.max(training.c[ts]))
            rows, lo, hi = conn.execute(stmt).one()
        if rows and isinstance(lo, dt.datetime) and isinstance(hi, dt.datetime):
            intervals = max((hi - lo) / schedule_interval(model.schedule, as_utc(lo)), 1.0)
            how = f"training rows per schedule interval ({int(rows)} rows over {intervals:.1f} intervals)"
            return max(round(int(rows) / intervals), 1), how
    return None, "no window size known (no timestamped rows in serving or training); set drift.learned.window_rows"


SERVED_INTERVALS = 7


def _served_rows(model: ModelConfig, engine: Engine, serving: sa.Table) -> tuple[int, str] | None:
    ts = serving.c[model.serving.timestamp_column]
    with engine.connect() as conn:
        hi = conn.execute(sa.select(sa.func.max(ts))).scalar_one()
        if not isinstance(hi, dt.datetime):
            return None
        step = schedule_interval(model.schedule, as_utc(hi) - dt.timedelta(days=7))
        buckets = [sa.and_(ts > hi - (i + 1) * step, ts <= hi - i * step) for i in range(SERVED_INTERVALS)]
        counts = conn.execute(
            sa.select(*(sa.func.count(sa.case((b, 1))) for b in buckets)).where(ts > hi - SERVED_INTERVALS * step)
        ).one()
    seen = sorted(int(n) for n in counts if n)
    if not seen:
        return None
    median = seen[len(seen) // 2] if len(seen) % 2 else (seen[len(seen) // 2 - 1] + seen[len(seen) // 2]) / 2
    how = (
        f"serving rows per schedule interval at derivation (median of the {len(seen)} of the last "
        f"{SERVED_INTERVALS} intervals with rows)"
    )
    return max(round(median), 1), how


@dataclass(frozen=True, kw_only=True)
class Resolved:
    """The thresholds that judge one column in one window, and why (the audit trail)."""

    threshold: float
    null_threshold: float
    why: str
    null_why: str


def resolve(
    *,
    learned: LearnedThresholds | None,
    column: str,
    method: str,
    threshold: float,
    null_threshold: float,
    explicit: tuple[bool, bool],
    window_rows: int,
    floor: float,
    null_default: float,
) -> Resolved:
    """A column's thresholds for a window of `window_rows` rows: the explicit ones from the YAML, else
    the learned ones rescaled to this window's size (floored), else the method's defaults."""
    spreads = learned.columns.get(column) if learned is not None else None
    fixed = "set in the model YAML" if explicit[0] else "the method's default (no learned threshold)"
    out = [threshold, null_threshold]
    whys = [
        f"fixed: {fixed}",
        f"fixed: {'set in the model YAML' if explicit[1] else 'the default (no learned threshold)'}",
    ]
    if learned is not None and spreads is not None:
        scale = math.sqrt(learned.window_rows / max(window_rows, 1))
        signals = [
            (spreads.effects.get(method), drift_method(method).default_threshold * floor),
            (spreads.null_rate, null_default * floor),
        ]
        for i, (s, lowest) in enumerate(signals):
            if explicit[i] or s is None:
                continue
            out[i] = max(s.threshold * scale, lowest)
            whys[i] = (
                f"learned: mean {s.mean:.4g} + {learned.sigmas:g} x std {s.std:.4g} over {learned.chunks} training "
                f"chunks of {learned.window_rows} rows ({learned.window_rows_source}) = {s.threshold:.4g}, "
                f"x sqrt({learned.window_rows}/{window_rows}) for this window's rows, floored at {lowest:.4g}"
            )
    return Resolved(threshold=out[0], null_threshold=out[1], why=whys[0], null_why=whys[1])


def window_size_off(learned: LearnedThresholds | None, window_rows: int, factor: float) -> bool:
    """Whether this window's size is more than `factor` times off the size the thresholds were learned for."""
    if learned is None or window_rows <= 0:
        return False
    ratio = window_rows / learned.window_rows
    return ratio > factor or ratio < 1 / factor


def reference_input(name: str, numeric: NumericBaseline | None, categorical: CategoricalBaseline | None) -> ColumnInput:
    """A column's training counts as a drift input (the window side left empty)."""
    if numeric is not None:
        atoms = numeric.bin_means or ([numeric.edges[0], *numeric.edges] if numeric.edges else [0.0])
        return ColumnInput(
            column=name,
            kind="numeric",
            method="",
            threshold=0.0,
            null_threshold=0.0,
            reference=numeric.counts,
            reference_nulls=numeric.nulls,
            current=[0] * len(numeric.counts),
            current_nulls=0,
            atoms=atoms,
            scale=numeric.std or 0.0,
            reference_mean=numeric.mean,
        )
    assert categorical is not None
    return ColumnInput(
        column=name,
        kind="categorical",
        method="",
        threshold=0.0,
        null_threshold=0.0,
        reference=[categorical.top[v] for v in sorted(categorical.top)] + [categorical.other],
        reference_nulls=categorical.nulls,
        current=[0] * (len(categorical.top) + 1),
        current_nulls=0,
    )


def with_learned_thresholds(model: ModelConfig, engine: Engine, tables: ModelTables, baseline: Baseline) -> Baseline:
    """The baseline with every column's drift thresholds learned from training chunks of the expected
    window size (README "Drift"), or with the note saying why the fixed ones apply."""
    learned, note = learn_thresholds(model, engine, tables, baseline)
    bad = learned_not_finite(learned) if learned is not None else []
    if bad:
        learned, note = (
            None,
            f"the learned thresholds are not finite numbers ({', '.join(bad[:5])}); the fixed ones apply",
        )
    return baseline.model_copy(update={"learned": learned, "learned_note": note})


def learn_thresholds(
    model: ModelConfig, engine: Engine, tables: ModelTables, baseline: Baseline
) -> tuple[LearnedThresholds | None, str]:
    numeric = {**baseline.numeric, model.prediction.column: baseline.prediction}
    categorical = baseline.categorical
    cfg = model.drift.learned
    if not cfg.enabled:
        return None, "drift.learned.enabled is false: the fixed thresholds apply"
    rows, source = expected_window_rows(model, engine, tables.serving, tables.training)
    if rows is None:
        return None, source
    refs = {n: reference_input(n, b, None) for n, b in numeric.items()}
    refs |= {n: reference_input(n, None, b) for n, b in categorical.items()}
    bins: tuple[dict[str, Sequence[float]], dict[str, Sequence[str]]] = (
        {n: b.edges for n, b in numeric.items()},
        {n: sorted(b.top) for n, b in categorical.items()},
    )
    ts = model.training.timestamp_column
    return learn(engine, tables.training, refs, bins, cfg, rows, source, ts if ts and ts in tables.training.c else None)
