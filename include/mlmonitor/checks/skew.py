"""Training/serving skew (ML Test Score M3): the serving rows of a window joined by key to an offline
feature table (the values the training pipeline computes), compared feature by feature in one query."""

from __future__ import annotations

from typing import Any, TypedDict

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from mlmonitor.checks.base import WindowCheck
from mlmonitor.config import ModelConfig
from mlmonitor.dialect import as_float, exact_text
from mlmonitor.metrics import Metric, Status
from mlmonitor.warehouse import ModelTables, column, is_numeric, reflect_table, window_filter
from mlmonitor.window import Window


class SkewDetails(TypedDict, total=False):
    joined: int
    rows: int
    mismatches: int
    tolerance: float
    offline_table: str


def _mismatch(s: sa.ColumnElement[Any], o: sa.ColumnElement[Any], numeric: bool, tol: float) -> sa.Case[Any]:
    """1 when the two values differ (one NULL and the other not, or beyond `tol`), else 0."""
    differs = sa.func.abs(as_float(s) - as_float(o)) > tol if numeric else exact_text(s) != exact_text(o)
    return sa.case(
        (sa.and_(s.is_(None), o.is_(None)), 0),
        (sa.or_(s.is_(None), o.is_(None)), 1),
        (differs, 1),
        else_=0,
    )


def skew_metrics(engine: Engine, model: ModelConfig, tables: ModelTables, window: Window) -> list[Metric]:
    """Per feature: share of joined rows whose serving value differs from the offline one, and the
    mean absolute difference of numeric features; plus the share of serving rows found offline."""
    cfg = model.skew
    if cfg is None:
        return []
    offline = reflect_table(engine, cfg.table, f"{model.name}: skew (offline features)")
    key = column(offline, cfg.id_column, f"{model.name}: skew key")
    features = list(cfg.features) or [f for f in tables.features if f in offline.c and f in tables.serving.c]
    serving = tables.serving
    for name in features:
        column(offline, name, f"{model.name}: skew feature")
        column(serving, name, f"{model.name}: skew feature")
    joined = serving.join(offline, serving.c[model.serving.id_column] == key)
    exprs: list[Any] = [sa.func.count()]
    for name in features:
        s, o = serving.c[name], offline.c[name]
        numeric = is_numeric(s) and is_numeric(o)
        exprs.append(sa.func.sum(_mismatch(s, o, numeric, cfg.tolerance)))
        exprs.append(sa.func.avg(sa.func.abs(as_float(s) - as_float(o))) if numeric else sa.null())
    where = window_filter(tables.ts(model), window)
    with engine.connect() as conn:
        row = conn.execute(sa.select(*exprs).select_from(joined).where(where)).one()
        total = int(conn.execute(sa.select(sa.func.count()).select_from(serving).where(where)).scalar_one())
    n = int(row[0])
    out = [
        Metric(
            check="health",
            column="",
            metric="skew_join_coverage",
            value=n / total if total else 0.0,
            details=SkewDetails(joined=n, rows=total, offline_table=cfg.table),
        )
    ]
    for i, name in enumerate(features):
        mismatches, mad = int(row[1 + 2 * i] or 0), row[2 + 2 * i]
        rate = mismatches / n if n else 0.0
        status: Status = "warning" if rate > cfg.max_mismatch_rate else "ok"
        details = SkewDetails(mismatches=mismatches, joined=n, tolerance=cfg.tolerance, offline_table=cfg.table)
        out.append(
            Metric(
                check="health",
                column=name,
                metric="skew_mismatch_rate",
                value=rate,
                status=status,
                threshold=cfg.max_mismatch_rate,
                details=details,
            )
        )
        if mad is not None:
            out.append(
                Metric(
                    check="health",
                    column=name,
                    metric="skew_mean_abs_diff",
                    value=float(mad),
                    details=SkewDetails(joined=n),
                )
            )
    return out


SKEW = WindowCheck(
    name="skew",
    family="health",
    summary="training/serving skew (M3): serving rows joined by id to an offline feature table (skew:), "
    "compared feature by feature",
    statuses={"warning": "a feature's serving values differ from the offline ones on more than skew.max_mismatch_rate"},
    run=lambda ctx: skew_metrics(ctx.engine, ctx.model, ctx.tables, ctx.window),
)
