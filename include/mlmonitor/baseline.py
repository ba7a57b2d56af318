"""The drift baseline: frozen training statistics, computed once per derivation, read by every run."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, ValidationError
from sqlalchemy.engine import Engine

from mlmonitor import profile as prof
from mlmonitor.config import ModelConfig
from mlmonitor.errors import BaselineMissing
from mlmonitor.warehouse import ModelTables

BINS_VERSION = 1


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


class CategoricalBaseline(_Frozen):
    count: int
    nulls: int
    distinct: int
    top: dict[str, int]
    other: int


class Fingerprint(_Frozen):
    rows: int
    max_timestamp: str | None
    content_hash: str


class Baseline(_Frozen):
    model: str
    bins_version: int
    training_table: str
    fingerprint: Fingerprint
    numeric: dict[str, NumericBaseline]
    categorical: dict[str, CategoricalBaseline]
    prediction: NumericBaseline


def numeric_baseline(engine: Engine, col: sa.Column[object], bins: int) -> NumericBaseline:
    p = prof.numeric_profile(engine, col)
    edges = prof.bin_edges(p, bins)
    counts, _ = prof.bin_counts(engine, col, edges)
    return NumericBaseline(**p.__dict__, edges=edges, counts=counts)


def categorical_baseline(engine: Engine, col: sa.Column[object], top_k: int) -> CategoricalBaseline:
    return CategoricalBaseline(**prof.categorical_profile(engine, col, top_k).__dict__)


def derive_baseline(model: ModelConfig, engine: Engine, tables: ModelTables) -> Baseline:
    """Profile the training table with SQL aggregates into a frozen baseline."""
    t = tables.training
    numeric = {c: numeric_baseline(engine, t.c[c], model.drift.bins) for c in tables.numeric}
    categorical = {c: categorical_baseline(engine, t.c[c], model.drift.top_k) for c in tables.categorical}
    prediction = numeric_baseline(engine, t.c[model.prediction.column], model.drift.bins)
    stats = json.dumps(
        [
            {k: v.model_dump() for k, v in numeric.items()},
            {k: v.model_dump() for k, v in categorical.items()},
            prediction.model_dump(),
        ],
        sort_keys=True,
    )
    return Baseline(
        model=model.name,
        bins_version=BINS_VERSION,
        training_table=model.training.table,
        fingerprint=Fingerprint(
            rows=prediction.count,
            max_timestamp=_max_timestamp(engine, model, t),
            content_hash=hashlib.sha256(stats.encode()).hexdigest(),
        ),
        numeric=numeric,
        categorical=categorical,
        prediction=prediction,
    )


def _max_timestamp(engine: Engine, model: ModelConfig, table: sa.Table) -> str | None:
    name = model.training.timestamp_column
    if not name or name not in table.c:
        return None
    with engine.connect() as conn:
        value = conn.execute(sa.select(sa.func.max(table.c[name]))).scalar_one()
    return None if value is None else str(value)


def save_baseline(baseline: Baseline, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(baseline.model_dump_json(indent=2) + "\n", encoding="utf-8")


def load_baseline(path: Path, model: str) -> Baseline:
    """Read a stored baseline; a missing or corrupt file says how to re-derive it."""
    fix = f"derive it with `mlmonitor baseline {model}` or trigger the DAG mlmonitor_{model}_baseline"
    try:
        return Baseline.model_validate_json(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BaselineMissing(f"{model}: no drift baseline at {path}; {fix}") from None
    except (ValidationError, ValueError) as exc:
        raise BaselineMissing(
            f"{model}: drift baseline {path} is corrupt ({str(exc).splitlines()[0]}); {fix}"
        ) from None
