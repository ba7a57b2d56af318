"""Schema checks (ML Test Score M1).

- `schema_changes`: a fingerprint of the training and serving tables per run, compared with the
  fingerprint stored by the previous window's run (the first window: with the tables as they were
  when the baseline was derived).
- `serving_schema`: a monitored feature missing from the serving table or arriving with another
  type than in training; it is left out of the window statistics (validation names it too).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, TypedDict

import sqlalchemy as sa

from mlmonitor.checks.base import History, WindowCheck, WindowContext
from mlmonitor.config import ModelConfig
from mlmonitor.metrics import Metric, Status
from mlmonitor.warehouse import column_types

METRIC = "schema_changes"


class SchemaDetails(TypedDict, total=False):
    columns: dict[str, str]  # column -> type now
    fingerprint: str
    compared_with: str | None  # a window start, "baseline derivation", or None (nothing to compare with)
    added: list[str]
    removed: list[str]
    retyped: list[dict[str, str]]  # {"column", "from", "to"}
    change: str  # one line naming every change


class ServingSchemaDetails(TypedDict):
    problem: str
    effect: str


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
    history: History,
    model: ModelConfig,
    table: sa.Table,
    dialect: sa.Dialect,
    at_derivation: dict[str, str] | None = None,
) -> Metric:
    """One `schema_changes` row for `table`: the number of changed columns since the previous
    window's run (or, for the first window, since the baseline was derived: `at_derivation`), with
    the current columns and the change list in its details."""
    current = column_types(table, dialect)
    details = SchemaDetails(columns=current, fingerprint=_digest(current))
    prev = history.previous("health", table.fullname, METRIC)
    if prev is not None and "columns" in prev["details"]:
        reference, compared_with = prev["details"]["columns"], prev["window_start"].isoformat()
    elif at_derivation is not None:
        reference, compared_with = at_derivation, "baseline derivation"
    else:
        details["compared_with"] = None
        return Metric(check="health", column=table.fullname, metric=METRIC, value=0.0, details=details)
    diff = compare(reference, current)
    changes = len(diff["added"]) + len(diff["removed"]) + len(diff["retyped"])
    details["added"], details["removed"], details["retyped"] = diff["added"], diff["removed"], diff["retyped"]
    details["compared_with"] = compared_with
    if changes:
        details["change"] = describe(diff)
    status: Status = model.health.schema_changes if changes else "ok"
    return Metric(
        check="health", column=table.fullname, metric=METRIC, value=float(changes), status=status, details=details
    )


def schema_metrics(
    history: History,
    model: ModelConfig,
    tables: tuple[sa.Table, ...],
    dialect: sa.Dialect,
    at_derivation: dict[str, dict[str, str]],
) -> list[Metric]:
    """Schema fingerprints of the given tables (training and serving) compared with the previous run
    (or the baseline's snapshot, table name -> columns, for the first window)."""
    return [schema_metric(history, model, t, dialect, at_derivation.get(t.fullname)) for t in tables]


def serving_schema_metrics(issues: dict[str, str]) -> list[Metric]:
    """One alert row per monitored feature that is missing or retyped in the serving table."""
    return [
        Metric(
            check="health",
            column=name,
            metric="serving_schema",
            value=None,
            status="alert",
            details=ServingSchemaDetails(problem=why, effect="left out of drift"),
        )
        for name, why in issues.items()
    ]


def _schema_changes(ctx: WindowContext) -> list[Metric]:
    tables = (ctx.tables.training, ctx.tables.serving)
    return schema_metrics(ctx.history, ctx.model, tables, ctx.engine.dialect, ctx.baseline.schemas)


SERVING_SCHEMA = WindowCheck(
    name="serving_schema",
    family="health",
    summary="every monitored feature exists in the serving table with its training type family",
    statuses={"alert": "a monitored feature is missing from serving or retyped there (left out of drift)"},
    run=lambda ctx: serving_schema_metrics(ctx.tables.schema_issues),
)
SCHEMA_CHANGES = WindowCheck(
    name="schema_changes",
    family="health",
    summary="columns added, removed or retyped in the training or serving table since the previous window (M1)",
    statuses={"alert": "the training or serving table's schema changed (health.schema_changes, default alert)"},
    run=_schema_changes,
)
