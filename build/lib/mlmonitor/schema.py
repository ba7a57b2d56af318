"""Upstream schema changes (ML Test Score M1): a fingerprint of the training and serving tables per
run, compared with the fingerprint stored by the previous window's run."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from mlmonitor.config import ModelConfig
from mlmonitor.metrics import Metric, Status
from mlmonitor.results import previous_metric
from mlmonitor.window import Window

METRIC = "schema_changes"


def fingerprint(table: sa.Table, dialect: sa.Dialect) -> dict[str, str]:
    """Column name -> type as the warehouse spells it (from the reflected table)."""
    return {c.name: c.type.compile(dialect=dialect) for c in table.columns}


def compare(previous: dict[str, str], current: dict[str, str]) -> dict[str, Any]:
    """Added, removed and retyped columns between two fingerprints."""
    return {
        "added": sorted(set(current) - set(previous)),
        "removed": sorted(set(previous) - set(current)),
        "retyped": [
            {"column": c, "from": previous[c], "to": current[c]}
            for c in sorted(set(previous) & set(current))
            if previous[c] != current[c]
        ],
    }


def _digest(columns: dict[str, str]) -> str:
    return hashlib.sha256(json.dumps(columns, sort_keys=True).encode()).hexdigest()[:16]


def schema_metric(
    results_engine: Engine, model: ModelConfig, table: sa.Table, dialect: sa.Dialect, window: Window
) -> Metric:
    """One `schema_changes` row for `table`: the number of changed columns since the previous
    window's run, with the current columns and the change list in its details."""
    current = fingerprint(table, dialect)
    details: dict[str, Any] = {"columns": current, "fingerprint": _digest(current)}
    prev = previous_metric(results_engine, model.name, "health", table.fullname, METRIC, window.start)
    if prev is None or "columns" not in prev["details"]:
        details["compared_with"] = None
        return Metric("health", table.fullname, METRIC, 0.0, details=details)
    diff = compare(prev["details"]["columns"], current)
    changes = len(diff["added"]) + len(diff["removed"]) + len(diff["retyped"])
    details.update(diff, compared_with=prev["window_start"].isoformat())
    status: Status = model.health.schema_changes if changes else "ok"
    return Metric("health", table.fullname, METRIC, float(changes), status, details=details)


def schema_metrics(
    results_engine: Engine, model: ModelConfig, tables: tuple[sa.Table, ...], dialect: sa.Dialect, window: Window
) -> list[Metric]:
    """Schema fingerprints of the given tables (training and serving) compared with the previous run."""
    return [schema_metric(results_engine, model, t, dialect, window) for t in tables]
