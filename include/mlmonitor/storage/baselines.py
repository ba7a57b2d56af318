"""The drift baseline: frozen training statistics, computed once per derivation, read by every run."""

from __future__ import annotations

import hashlib
import json
import math
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.engine import Engine

from mlmonitor import profile as prof
from mlmonitor.config import ModelConfig
from mlmonitor.dialect import is_overflow
from mlmonitor.errors import BaselineMissing, TrainingDataError
from mlmonitor.names import derive_hint
from mlmonitor.storage.files import write_atomic
from mlmonitor.warehouse import ModelTables, column_types

# 2: per-bin training means (the atoms of the binned Wasserstein distance)
# 3: thresholds learned from the training chunks (`learned`, `learned_note`)
BINS_VERSION = 3


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NumericBaseline(_Frozen):
    count: int
    nulls: int
    min: float | None
    max: float | None
    mean: float | None
    std: float | None
    quantiles: dict[str, float]
    edges: list[float]
    counts: list[int]
    bin_means: list[float] = []  # training mean per bin; derive_baseline always fills it
    non_finite: int = 0  # NaN / +-infinity training values, left out of every statistic and bin


class CategoricalBaseline(_Frozen):
    count: int
    nulls: int
    distinct: int
    top: dict[str, int]
    other: int
    # every training value, when the top-K misses some and there are at most validation.value_set_max
    # of them (the suite's value set), and how many of them occur once (Good-Turing: the chance that a
    # serving row holds a value training never saw is about singletons / present rows)
    values: list[str] | None = None
    singletons: int = 0


class Fingerprint(_Frozen):
    rows: int
    max_timestamp: str | None
    content_hash: str


class Spread(_Frozen):
    """One drift signal's effect sizes over the training chunks, and the threshold learned from them
    (before the floor and the rescaling to a window's size, applied at run time)."""

    mean: float
    std: float
    max: float
    threshold: float


class ColumnSpread(_Frozen):
    effects: dict[str, Spread]  # every registered method of the column's kind
    null_rate: Spread


class LearnedThresholds(_Frozen):
    """What the drift thresholds were learned for, and from what (checks/drift_thresholds.py)."""

    window_rows: int  # rows per chunk: the window size the thresholds are for
    window_rows_source: str  # how that size was found
    chunks: int
    order_by: str | None  # the training column the chunks follow (None: the table's order)
    sigmas: float
    columns: dict[str, ColumnSpread]


class Calibration(_Frozen):
    """The map from a predicted probability to the positive rate it had on the labelled training rows
    (equal-width bins, made monotone by isotonic regression): what performance estimation needs."""

    bins: int
    counts: list[int]  # training rows per bin
    curve: list[float]  # calibrated probability per bin
    labeled: int


class Baseline(_Frozen):
    model: str
    bins_version: int
    training_table: str
    fingerprint: Fingerprint
    numeric: dict[str, NumericBaseline]
    categorical: dict[str, CategoricalBaseline]
    prediction: NumericBaseline
    performance: dict[str, float] = Field(default_factory=dict)  # quality on the training labels, if any
    calibration: Calibration | None = None  # classification with training labels: for estimated quality
    # column -> type of the training and serving tables when derived: the first window's schema reference
    schemas: dict[str, dict[str, str]] = Field(default_factory=dict)
    # drift thresholds learned from training chunks of a window's size (None: the fixed ones apply, see the note);
    # set by `pipeline.derive` (checks/drift_thresholds.py)
    learned: LearnedThresholds | None = None
    learned_note: str = ""
    # what derivation noticed about the training data and worked around (non-finite values left out,
    # columns without a value or with one value only): shown in the suite's meta and the task log
    warnings: list[str] = Field(default_factory=list)


def numeric_baseline(engine: Engine, col: sa.Column[object], bins: int) -> NumericBaseline:
    p = prof.numeric_profile(engine, col)
    edges = prof.bin_edges(p, bins)
    counts, means, _ = prof.bin_stats(engine, col, edges, prof.finite(col))
    return NumericBaseline(**p.__dict__, edges=edges, counts=counts, bin_means=_atoms(means, edges))


def _atoms(means: list[float | None], edges: list[float]) -> list[float]:
    """Training mean of each bin; an empty bin (possible only for an all-NULL column) falls back to an edge."""
    fallback = [edges[0] if edges else 0.0, *edges]
    return [m if m is not None else f for m, f in zip(means, fallback, strict=True)]


def categorical_baseline(
    engine: Engine, col: sa.Column[object], top_k: int, value_set_max: int = 0
) -> CategoricalBaseline:
    """Top-K counts for drift; the whole value set too when the top-K misses values and it is small."""
    profile = prof.categorical_profile(engine, col, top_k)
    if not profile.other or profile.distinct > value_set_max:
        return CategoricalBaseline(**profile.__dict__)
    values, singletons = prof.value_set(engine, col)
    return CategoricalBaseline(**profile.__dict__, values=values, singletons=singletons)


def derive_baseline(model: ModelConfig, engine: Engine, tables: ModelTables) -> Baseline:
    """Profile the training table with SQL aggregates into a frozen baseline.

    Raises:
        TrainingDataError: the training table has no rows, or a column's statistics are not finite
            numbers even without its non-finite values (values near the float limit overflow)."""
    t = tables.training
    if not prof.row_count(engine, t):
        raise TrainingDataError(
            f"{model.name}: training table {model.training.table} has no rows, so there is nothing to derive a "
            "baseline from; load the training data (or point training.table in the model YAML at the table "
            f"that holds it), then {derive_hint(model.name)}"
        )

    def numeric_of(name: str) -> NumericBaseline:
        try:
            return _finite(model, name, numeric_baseline(engine, t.c[name], model.drift.bins))
        except sa.exc.DBAPIError as exc:  # PostgreSQL and MariaDB refuse an overflowing sum (SQLite: infinity)
            if not is_overflow(engine.dialect, exc):
                raise
            raise _not_finite(model, name, str(exc.orig).splitlines()[0][:200]) from None

    numeric = {c: numeric_of(c) for c in tables.numeric}
    top_k, value_set_max = model.drift.top_k, model.validation.value_set_max
    categorical = {c: categorical_baseline(engine, t.c[c], top_k, value_set_max) for c in tables.categorical}
    prediction = numeric_of(model.prediction.column)
    return Baseline(
        model=model.name,
        bins_version=BINS_VERSION,
        training_table=model.training.table,
        fingerprint=fingerprint(model, engine, tables),
        numeric=numeric,
        categorical=categorical,
        prediction=prediction,
        schemas={t.fullname: column_types(t, engine.dialect) for t in (tables.training, tables.serving)},
        warnings=training_warnings(model, {**numeric, model.prediction.column: prediction}, categorical),
    )


def _finite(model: ModelConfig, name: str, b: NumericBaseline) -> NumericBaseline:
    """`b` when every statistic of it is a finite number (JSON cannot hold the others: a stored
    infinity would read back as a corrupt baseline on every window)."""
    stats = {"min": b.min, "max": b.max, "mean": b.mean, "std": b.std}
    stats |= {f"quantile {q}": v for q, v in b.quantiles.items()}
    stats |= {f"bin edge {i}": v for i, v in enumerate(b.edges)}
    stats |= {f"bin mean {i}": v for i, v in enumerate(b.bin_means)}
    bad = [f"{key} = {value}" for key, value in stats.items() if value is not None and not math.isfinite(value)]
    if bad:
        raise _not_finite(model, name, ", ".join(bad))
    return b


def learned_not_finite(learned: LearnedThresholds) -> list[str]:
    """The learned spreads that are not finite numbers, as `column signal = value` (JSON would store
    them as null and every later read would find the baseline corrupt)."""
    bad = []
    for column, cs in learned.columns.items():
        for signal, s in {**cs.effects, "null_rate": cs.null_rate}.items():
            for key, value in (("mean", s.mean), ("std", s.std), ("max", s.max), ("threshold", s.threshold)):
                if not math.isfinite(value):
                    bad.append(f"{column} {signal} {key} = {value}")
    return bad


def _not_finite(model: ModelConfig, name: str, what: str) -> TrainingDataError:
    return TrainingDataError(
        f"{model.name}: training column {model.training.table}.{name} gives statistics that are not finite "
        f"numbers ({what}), although its NaN and infinite values are left out: its values overflow double "
        "precision when summed or squared; rescale the column in the training and serving tables (or leave it "
        f"out of features in the model YAML), then {derive_hint(model.name)}"
    )


def training_warnings(
    model: ModelConfig, numeric: dict[str, NumericBaseline], categorical: dict[str, CategoricalBaseline]
) -> list[str]:
    """What the training data lacks that monitoring works around, one sentence per column."""
    table = model.training.table
    out = []
    for name, nb in numeric.items():
        if nb.non_finite:
            out.append(
                f"{table}.{name}: {nb.non_finite} NaN or infinite value(s) of {nb.count} left out of the baseline"
            )
    columns: dict[str, NumericBaseline | CategoricalBaseline] = {**numeric, **categorical}
    for name, b in columns.items():
        if b.count and (b.min is None if isinstance(b, NumericBaseline) else b.nulls == b.count):
            out.append(
                f"{table}.{name}: no training value (all NULL or not finite), so its distribution cannot be "
                "compared; only its NULL share is monitored"
            )
        elif isinstance(b, NumericBaseline) and b.min is not None and b.min == b.max:
            out.append(f"{table}.{name}: every training value is {b.min:g}; any window value off it counts as drift")
    return out


def fingerprint(model: ModelConfig, engine: Engine, tables: ModelTables) -> Fingerprint:
    """What identifies the training data, from one aggregate query (cheap enough to poll):
    row count, newest timestamp, and a hash of every column's count, sum and total length."""
    t = tables.training
    exprs: list[sa.ColumnElement[Any]] = [sa.func.count().label("rows")]
    ts = model.training.timestamp_column
    if ts and ts in t.c:
        exprs.append(sa.func.max(t.c[ts]).label("max_ts"))
    for name in (*tables.numeric, model.prediction.column):
        exprs += [sa.func.count(t.c[name]), sa.func.sum(t.c[name])]
    for name in tables.categorical:
        text = sa.cast(t.c[name], sa.String)
        exprs += [sa.func.count(t.c[name]), sa.func.sum(sa.func.length(text))]
    with engine.connect() as conn:
        row = conn.execute(sa.select(*exprs).select_from(t)).one()
    values = [_canonical(v) for v in row]
    max_ts = row._mapping.get("max_ts")
    return Fingerprint(
        rows=int(row.rows),
        max_timestamp=None if max_ts is None else str(max_ts),
        content_hash=hashlib.sha256(json.dumps(values).encode()).hexdigest(),
    )


def _canonical(value: Any) -> Any:
    """Aggregate values in a form that hashes the same on every run and driver."""
    if value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, (float, Decimal)):
        return f"{float(value):.9g}"
    return str(value)


def save_baseline(baseline: Baseline, path: Path) -> None:
    """Replace the stored baseline in one step (a reader sees the old one or the new one)."""
    write_atomic(path, baseline.model_dump_json(indent=2) + "\n")


def load_baseline(path: Path, model: str) -> Baseline:
    """Read a stored baseline; a missing or corrupt file says how to re-derive it."""
    fix = derive_hint(model)
    try:
        text = path.read_text(encoding="utf-8")
        version = json.loads(text).get("bins_version")
        if isinstance(version, int) and version != BINS_VERSION:
            raise BaselineMissing(
                f"{model}: drift baseline {path} has bins version {version}, this mlmonitor needs {BINS_VERSION}; {fix}"
            )
        return Baseline.model_validate_json(text)
    except FileNotFoundError:
        raise BaselineMissing(f"{model}: no drift baseline at {path}; {fix}") from None
    except (ValidationError, ValueError) as exc:
        raise BaselineMissing(
            f"{model}: drift baseline {path} is corrupt ({str(exc).splitlines()[0]}); {fix}"
        ) from None
