"""Window statistics and drift: a fixed number of aggregate queries per column, no raw rows pulled.

These are the steps both the Airflow tasks and the CLI call, in the same order.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from mlmonitor import profile as prof
from mlmonitor.baseline import Baseline, NumericBaseline
from mlmonitor.config import ModelConfig
from mlmonitor.drift import ColumnDrift, chi2_pvalue, decide, psi
from mlmonitor.metrics import Metric, RunSummary, Status, worst
from mlmonitor.warehouse import ModelTables, window_filter
from mlmonitor.window import Window, schedule_interval

# A prediction mean moves "materially" when it leaves training by this many training stds
# AND by more than 5 standard errors of the window mean.
_MEAN_SHIFT_STD = 0.1
_MEAN_SHIFT_SE = 5.0
LATENCY_REGRESSION = 1.5
LATENCY_MIN_HISTORY = 3
LATENCY_HISTORY = 7
# an ad-hoc window longer than this many schedule intervals is worth a warning: its statistics mix
# many periods, so a short incident inside it is diluted
LARGE_WINDOW_INTERVALS = 31


def window_volume(
    engine: Engine, model: ModelConfig, tables: ModelTables, window: Window
) -> tuple[int, dict[str, int]]:
    """Rows in the window and rows per model version (one GROUP BY)."""
    where = window_filter(tables.ts(model), window)
    vcol = model.serving.model_version_column
    if not vcol:
        return prof.row_count(engine, tables.serving, where), {}
    version = sa.cast(tables.serving.c[vcol], sa.String)
    stmt = sa.select(version, sa.func.count()).where(where).group_by(version).order_by(version)
    with engine.connect() as conn:
        versions = {str(v): int(n) for v, n in conn.execute(stmt)}
    return sum(versions.values()), versions


def _numeric_drift(
    engine: Engine, col: sa.Column[object], ref: NumericBaseline, where: sa.ColumnElement[bool]
) -> ColumnDrift:
    counts, nulls = prof.bin_counts(engine, col, ref.edges, where)
    cur, base = [*counts, nulls], [*ref.counts, ref.nulls]
    return ColumnDrift(col.name, "numeric", psi(base, cur), chi2_pvalue(base, cur), ref.count, sum(cur))


def drift_metrics(
    engine: Engine,
    model: ModelConfig,
    tables: ModelTables,
    baseline: Baseline,
    window: Window,
    columns: Sequence[str] | None = None,
) -> list[Metric]:
    """PSI + chi-squared per feature and for the prediction, BH across columns, dataset-level flag."""
    where = window_filter(tables.ts(model), window)
    serving = tables.serving
    # only features the window can be measured on: a column missing or retyped in serving is left
    # out (tables.servable()), validation and the serving_schema metric name it
    wanted = set(tables.features) & set(columns) if columns else set(tables.features)
    results: list[ColumnDrift] = []
    unseen: dict[str, list[tuple[str, int]]] = {}
    for name, nb in baseline.numeric.items():
        if name in wanted:
            results.append(_numeric_drift(engine, serving.c[name], nb, where))
    for name, cb in baseline.categorical.items():
        if name not in wanted:
            continue
        values = sorted(cb.top)
        counts, other, nulls = prof.category_counts(engine, serving.c[name], values, where)
        cur = [counts[v] for v in values] + [other, nulls]
        base = [cb.top[v] for v in values] + [cb.other, cb.nulls]
        results.append(ColumnDrift(name, "categorical", psi(base, cur), chi2_pvalue(base, cur), cb.count, sum(cur)))
        if other and cb.other == 0:
            unseen[name] = prof.unseen_values(engine, serving.c[name], values, where)
    results.append(_numeric_drift(engine, serving.c[model.prediction.column], baseline.prediction, where))
    decisions = decide(results, model.drift.threshold, model.drift.fdr)
    out: list[Metric] = []
    for d in decisions:
        c = d.drift
        details = {
            "method": "psi+chi2",
            "why": "PSI over frozen training bins (NULL as its own bin) is the effect size; the chi-squared "
            "test with Benjamini-Hochberg across columns is the evidence; both must agree",
            "kind": c.kind,
            "n_train": c.n_train,
            "n_window": c.n_window,
            "bins_version": baseline.bins_version,
            "raw_p_value": c.p_value,
            "fdr": model.drift.fdr,
            "decision": "drift" if d.drifted else "no drift",
        }
        if c.column in unseen:
            details["unseen_values"] = [{"value": v, "count": n} for v, n in unseen[c.column]]
        out.append(
            Metric(
                "drift",
                c.column,
                "psi",
                c.psi,
                "warning" if d.drifted else "ok",
                model.drift.threshold,
                d.q_value,
                details,
            )
        )
    drifted = sum(d.drifted for d in decisions)
    share = drifted / len(decisions) if decisions else 0.0
    dataset_status: Status = "alert" if share >= model.drift.dataset_drift_share else "ok"
    out.append(
        Metric(
            "drift",
            "",
            "drifted_share",
            share,
            dataset_status,
            model.drift.dataset_drift_share,
            details={"drifted_columns": [d.drift.column for d in decisions if d.drifted], "columns": len(decisions)},
        )
    )
    return out


def prediction_stats(
    engine: Engine, model: ModelConfig, tables: ModelTables, baseline: Baseline, window: Window
) -> list[Metric]:
    """Mean, std, min, max, median of the prediction; the mean checked against training by its standard error."""
    where = window_filter(tables.ts(model), window)
    col = tables.serving.c[model.prediction.column]
    p = prof.numeric_profile(engine, col, where, points=(0.5,))  # a window needs only its median
    ref = baseline.prediction
    out = [
        Metric("stats", model.prediction.column, name, value, details={"training": train})
        for name, value, train in (
            ("std", p.std, ref.std),
            ("min", p.min, ref.min),
            ("max", p.max, ref.max),
            ("median", p.quantiles.get("0.5"), ref.quantiles.get("0.5")),
        )
    ]
    n = p.count - p.nulls
    status: Status = "ok"
    z = None
    if p.mean is not None and ref.mean is not None and ref.std and n:
        z = (p.mean - ref.mean) / (ref.std / math.sqrt(n))
        material = abs(p.mean - ref.mean) > _MEAN_SHIFT_STD * ref.std
        status = "warning" if material and abs(z) > _MEAN_SHIFT_SE else "ok"
    out.insert(
        0,
        Metric(
            "stats",
            model.prediction.column,
            "mean",
            p.mean,
            status,
            _MEAN_SHIFT_SE,
            details={
                "training_mean": ref.mean,
                "training_std": ref.std,
                "n_window": n,
                "z_standard_errors": z,
                "rule": f"warning when |z| > {_MEAN_SHIFT_SE} and the shift exceeds {_MEAN_SHIFT_STD} training std",
            },
        ),
    )
    return out


def latency_stats(
    engine: Engine, model: ModelConfig, tables: ModelTables, window: Window, trailing_p95: Sequence[float] = ()
) -> list[Metric]:
    """Latency percentiles of the window; p95 above LATENCY_REGRESSION x the median p95 of the
    trailing healthy windows is a regression (needs at least LATENCY_MIN_HISTORY of them)."""
    name = model.serving.latency_column
    if not name:
        return []
    qs = prof.quantiles(engine, tables.serving.c[name], window_filter(tables.ts(model), window), (0.5, 0.95, 0.99))
    out = []
    for q, value in qs.items():
        metric = f"p{round(q * 100)}"
        if metric != "p95" or len(trailing_p95) < LATENCY_MIN_HISTORY:
            out.append(Metric("health", name, metric, value))
            continue
        limit = LATENCY_REGRESSION * statistics.median(trailing_p95)
        status: Status = "warning" if value > limit else "ok"
        details = {
            "trailing_median_p95": statistics.median(trailing_p95),
            "trailing_windows": len(trailing_p95),
            "rule": f"p95 above {LATENCY_REGRESSION} x the median p95 of the trailing healthy windows",
        }
        out.append(Metric("health", name, metric, value, status, limit, details=details))
    return out


def version_metrics(model: ModelConfig, versions: dict[str, int]) -> list[Metric]:
    """Share of requests per model version; more than one version in a window is worth a warning."""
    total = sum(versions.values())
    mixed: Status = "warning" if len(versions) > 1 else "ok"
    column = model.serving.model_version_column or ""
    return [
        Metric("health", column, f"share:{v}", n / total, mixed, details={"rows": n, "versions": sorted(versions)})
        for v, n in versions.items()
    ]


def window_length(model: ModelConfig, window: Window) -> Metric:
    """How many schedule intervals the window spans; far more than one is an explicit warning."""
    interval = schedule_interval(model.schedule, window.start)
    ratio = (window.end - window.start) / interval
    status: Status = "warning" if ratio > LARGE_WINDOW_INTERVALS else "ok"
    details = {
        "window_hours": (window.end - window.start).total_seconds() / 3600,
        "schedule": model.schedule,
        "interval_hours": interval.total_seconds() / 3600,
        "rule": f"warning above {LARGE_WINDOW_INTERVALS} schedule intervals: a short incident is diluted; "
        "monitor long periods as several windows (a backfill)",
    }
    return Metric("health", "", "window_intervals", ratio, status, LARGE_WINDOW_INTERVALS, details=details)


def summarize(
    model: ModelConfig,
    window: Window,
    rows: int,
    versions: dict[str, int],
    metrics: Sequence[Metric],
    docs_path: str | None = None,
    airflow_run_id: str | None = None,
) -> RunSummary:
    """The run row: `no_data` for an empty window (never a silent pass), else the worst metric status."""
    failed = [m for m in metrics if m.check == "validation" and m.status != "ok"]
    drifted = [m for m in metrics if m.check == "drift" and m.column and m.status != "ok"]
    status: Status = "no_data" if rows == 0 else worst([m.status for m in metrics])
    parts = [f"{rows} rows"]
    if failed:
        parts.append(f"{len(failed)} failed expectation(s): " + ", ".join(sorted({_label(m) for m in failed})))
    if drifted:
        parts.append("drift in " + ", ".join(m.column for m in drifted))
    flagged = [m for m in metrics if m.check in {"stats", "health"} and m.status != "ok"]
    if flagged:
        parts.append("warnings: " + ", ".join(sorted({_label(m) for m in flagged})))
    return RunSummary(
        model=model.name,
        window_start=window.start.isoformat(),
        window_end=window.end.isoformat(),
        rows=rows,
        model_versions=versions,
        status=status,
        failed_expectations=len(failed),
        drifted_features=len(drifted),
        docs_path=docs_path,
        airflow_run_id=airflow_run_id,
        message="; ".join(parts),
    )


def _label(m: Metric) -> str:
    return f"{m.metric}({m.column})" if m.column else m.metric
