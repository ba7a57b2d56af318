"""Upstream schema changes (ML Test Score M1): a fingerprint of the training and serving tables per
run, compared with the fingerprint stored by the previous window's run (the first window: with the
tables as they were when the baseline was derived)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from mlmonitor.config import ModelConfig
from mlmonitor.metrics import Metric, Status
from mlmonitor.storage.results import previous_metric
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


def describe(diff: dict[str, Any]) -> str:
    """One line naming every change, e.g. `added new_feature; removed x; retyped c REAL -> TEXT`."""
    parts = [f"{k} {', '.join(diff[k])}" for k in ("added", "removed") if diff[k]]
    if diff["retyped"]:
        parts.append("retyped " + ", ".join(f"{r['column']} {r['from']} -> {r['to']}" for r in diff["retyped"]))
    return "; ".join(parts)


def _digest(columns: dict[str, str]) -> str:
    return hashlib.sha256(json.dumps(columns, sort_keys=True).encode()).hexdigest()[:16]


def schema_metric(
    results_engine: Engine,
    model: ModelConfig,
    table: sa.Table,
    dialect: sa.Dialect,
    window: Window,
    at_derivation: dict[str, str] | None = None,
) -> Metric:
    """One `schema_changes` row for `table`: the number of changed columns since the previous
    window's run (or, for the first window, since the baseline was derived: `at_derivation`), with
    the current columns and the change list in its details."""
    current = fingerprint(table, dialect)
    details: dict[str, Any] = {"columns": current, "fingerprint": _digest(current)}
    prev = previous_metric(results_engine, model.name, "health", table.fullname, METRIC, window.start)
    if prev is not None and "columns" in prev["details"]:
        reference, compared_with = prev["details"]["columns"], prev["window_start"].isoformat()
    elif at_derivation is not None:
        reference, compared_with = at_derivation, "baseline derivation"
    else:
        details["compared_with"] = None
        return Metric("health", table.fullname, METRIC, 0.0, details=details)
    diff = compare(reference, current)
    changes = len(diff["added"]) + len(diff["removed"]) + len(diff["retyped"])
    details.update(diff, compared_with=compared_with)
    if changes:
        details["change"] = describe(diff)
    status: Status = model.health.schema_changes if changes else "ok"
    return Metric("health", table.fullname, METRIC, float(changes), status, details=details)


def schema_metrics(
    results_engine: Engine,
    model: ModelConfig,
    tables: tuple[sa.Table, ...],
    dialect: sa.Dialect,
    window: Window,
    at_derivation: dict[str, dict[str, str]],
) -> list[Metric]:
    """Schema fingerprints of the given tables (training and serving) compared with the previous run
    (or the baseline's snapshot, table name -> columns, for the first window)."""
    return [schema_metric(results_engine, model, t, dialect, window, at_derivation.get(t.fullname)) for t in tables]
