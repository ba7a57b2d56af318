"""The demo model `carloan`: a credit-default classifier with training data, 60 days of serving
logs and late labels, with incidents baked in on known days so the demo has something to find.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from mlmonitor.dialect import Double

START = dt.datetime(2024, 3, 1)
DAYS = 60
ROWS_PER_DAY = 1200
TRAINING_ROWS = 20_000
LABEL_DELAY_DAYS = (1, 7)  # each label arrives 1 to 7 days after its prediction
REGISTRY = {"1.0.0": START - dt.timedelta(days=10), "1.1.0": START + dt.timedelta(days=19)}


@dataclass(frozen=True)
class Incidents:
    """Day indexes (0 = START) of what the demo data hides."""

    version_switch: int = 20  # 1.0.0 -> 1.1.0, both live that day
    income_drift_from: int = 30  # income grows 1.5 % a day from here on (gradual drift)
    region_shift_from: int = 40  # share of region 'south' jumps from 20 % to 50 % (sudden)
    quality_incident: int = 45  # 35 % of credit_score NULL and a new employment_type 'gig_worker'
    latency_regression_from: int = 50  # median latency triples
    concept_drift_from: int = 52  # true default risk rises by 0.3: quality drops once labels arrive


INCIDENTS = Incidents()
EMPLOYMENT = (("salaried", 0.6), ("self_employed", 0.2), ("contractor", 0.15), ("unemployed", 0.05))
REGIONS = ("central", "east", "north", "south", "west")
PURPOSES = (("car", 0.5), ("home", 0.3), ("education", 0.1), ("business", 0.1))


def _features(rng: np.random.Generator, n: int) -> dict[str, Any]:
    return {
        "age": np.clip(rng.normal(42, 12, n).round(), 21, 75).astype(int),
        "income": rng.lognormal(np.log(52_000), 0.4, n).round(2),
        "loan_amount": rng.lognormal(np.log(15_000), 0.6, n).round(2),
        "credit_score": np.clip(rng.normal(680, 60, n).round(), 300, 850),
        "debt_to_income": (rng.beta(2, 5, n) * 0.8).round(4),
        "employment_type": rng.choice([e for e, _ in EMPLOYMENT], n, p=[p for _, p in EMPLOYMENT]),
        "region": rng.choice(REGIONS, n),
        "purpose": rng.choice([e for e, _ in PURPOSES], n, p=[p for _, p in PURPOSES]),
    }


def default_probability(f: dict[str, Any]) -> np.ndarray:
    """The 'model': a fixed logistic score, so predictions move when inputs do."""
    score = np.nan_to_num(np.asarray(f["credit_score"], dtype=float), nan=600.0)
    logit = (
        -1.2
        - 0.012 * (score - 680)
        + 2.5 * (np.asarray(f["debt_to_income"]) - 0.23)
        - 0.5 * np.log(np.asarray(f["income"]) / 52_000)
        + 0.3 * np.log(np.asarray(f["loan_amount"]) / 15_000)
        + 0.8 * (np.asarray(f["employment_type"]) == "unemployed")
    )
    return np.asarray(1 / (1 + np.exp(-logit)))


def _tables(metadata: sa.MetaData) -> tuple[sa.Table, sa.Table, sa.Table, sa.Table]:
    def feature_columns() -> list[sa.Column[Any]]:
        return [
            sa.Column("age", sa.Integer),
            sa.Column("income", Double),
            sa.Column("loan_amount", Double),
            sa.Column("credit_score", Double),
            sa.Column("debt_to_income", Double),
            sa.Column("employment_type", sa.String(32)),
            sa.Column("region", sa.String(32)),
            sa.Column("purpose", sa.String(32)),
        ]

    training = sa.Table(
        "carloan_training",
        metadata,
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("application_time", sa.DateTime),
        *feature_columns(),
        sa.Column("y_pred_proba", Double),
        sa.Column("repaid", sa.Integer),
    )
    serving = sa.Table(
        "carloan_serving_logs",
        metadata,
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("timestamp", sa.DateTime, index=True),
        *feature_columns(),
        sa.Column("y_pred_proba", Double),
        sa.Column("y_pred", sa.Integer),
        sa.Column("model_version", sa.String(16)),
        sa.Column("latency_ms", Double),
    )
    labels = sa.Table(
        "carloan_labels",
        metadata,
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("repaid", sa.Integer),
        sa.Column("labeled_at", sa.DateTime),
    )
    registry = sa.Table(
        "carloan_model_registry",
        metadata,
        sa.Column("model_version", sa.String(16), primary_key=True),
        sa.Column("trained_at", sa.DateTime),
    )
    return training, serving, labels, registry


def _rows(columns: dict[str, Any]) -> list[dict[str, Any]]:
    keys = list(columns)
    out = []
    for values in zip(*(columns[k] for k in keys), strict=True):
        out.append({k: (v.item() if hasattr(v, "item") else v) for k, v in zip(keys, values, strict=True)})
    return out


def training_data(rng: np.random.Generator) -> dict[str, Any]:
    f = _features(rng, TRAINING_ROWS)
    p = default_probability(f)
    seconds = rng.integers(0, 182 * 86_400, TRAINING_ROWS)
    return {
        "id": [f"t{i:06d}" for i in range(TRAINING_ROWS)],
        "application_time": [START - dt.timedelta(days=182) + dt.timedelta(seconds=int(s)) for s in seconds],
        **f,
        "y_pred_proba": p.round(6),
        "repaid": (rng.random(TRAINING_ROWS) >= p).astype(int),
    }


def serving_day(rng: np.random.Generator, day: int, inc: Incidents = INCIDENTS) -> dict[str, Any]:
    n = int(ROWS_PER_DAY * rng.uniform(0.9, 1.1))
    f = _features(rng, n)
    if day >= inc.income_drift_from:
        f["income"] = (f["income"] * (1 + 0.015 * (day - inc.income_drift_from + 1))).round(2)
    if day >= inc.region_shift_from:
        f["region"] = rng.choice(REGIONS, n, p=[0.125, 0.125, 0.125, 0.5, 0.125])
    p = default_probability(f)
    truth = np.minimum(p + 0.3, 1.0) if day >= inc.concept_drift_from else p
    if day == inc.quality_incident:
        score = f["credit_score"].astype(float)
        score[rng.random(n) < 0.35] = np.nan
        f["credit_score"] = score
        f["employment_type"] = np.where(rng.random(n) < 0.15, "gig_worker", f["employment_type"])
    start = START + dt.timedelta(days=day)
    stamps = sorted(start + dt.timedelta(seconds=int(s)) for s in rng.integers(0, 86_400, n))
    if day < inc.version_switch:
        versions = np.full(n, "1.0.0")
    elif day == inc.version_switch:
        versions = np.where(np.arange(n) < n // 2, "1.0.0", "1.1.0")
    else:
        versions = np.full(n, "1.1.0")
    latency_median = 120.0 if day >= inc.latency_regression_from else 40.0
    credit = [None if np.isnan(x) else float(x) for x in np.asarray(f["credit_score"], dtype=float)]
    return {
        "id": [f"s{day:02d}{i:05d}" for i in range(n)],
        "timestamp": stamps,
        **f,
        "credit_score": credit,
        "y_pred_proba": p.round(6),
        "y_pred": (p >= 0.5).astype(int),
        "model_version": versions,
        "latency_ms": rng.lognormal(np.log(latency_median), 0.35, n).round(1),
        "_label": (rng.random(n) >= truth).astype(int),
    }


def write_demo(engine: Engine, days: Sequence[int] = range(DAYS), seed: int = 7) -> dict[str, int]:
    """(Re)create the demo tables with the given serving days; deterministic for a given seed.

    Labels carry their arrival time `labeled_at` (1 to 7 days after the prediction); the model YAML
    names it `labels.arrived_at_column`, so each run sees only the labels arrived by its window end,
    exactly as if the labels table were filled with that delay."""
    rng = np.random.default_rng(seed)
    delays = np.random.default_rng(seed + 1)  # its own stream: the serving data stays as it was
    metadata = sa.MetaData()
    training, serving, labels, registry = _tables(metadata)
    metadata.drop_all(engine)
    metadata.create_all(engine)
    counts = {"training": TRAINING_ROWS, "serving": 0, "labels": 0}
    with engine.begin() as conn:
        conn.execute(registry.insert(), [{"model_version": v, "trained_at": t} for v, t in REGISTRY.items()])
        conn.execute(training.insert(), _rows(training_data(rng)))
        for day in days:
            data = serving_day(rng, day)
            label = data.pop("_label")
            conn.execute(serving.insert(), _rows(data))
            conn.execute(
                labels.insert(),
                _rows(
                    {
                        "id": data["id"],
                        "repaid": label,
                        "labeled_at": [
                            t + dt.timedelta(seconds=int(s))
                            for t, s in zip(
                                data["timestamp"],
                                delays.integers(LABEL_DELAY_DAYS[0] * 86_400, LABEL_DELAY_DAYS[1] * 86_400, len(label)),
                                strict=True,
                            )
                        ],
                    }
                ),
            )
            counts["serving"] += len(data["id"])
            counts["labels"] += len(data["id"])
    return counts
