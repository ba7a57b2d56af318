"""Window statistics and drift: a fixed number of aggregate queries per column, no raw rows pulled.

These are the steps both the Airflow tasks and the CLI call, in the same order.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from mlmonitor import profile as prof
from mlmonitor.checks.drift_stats import ColumnInput, Decision, Kind, assess, null_rates
from mlmonitor.checks.drift_stats import ColumnResult as DriftResult
from mlmonitor.config import ModelConfig
from mlmonitor.errors import ConfigError
from mlmonitor.metrics import Metric, RunSummary, Status, worst
from mlmonitor.storage.baselines import Baseline, NumericBaseline
from mlmonitor.warehouse import ModelTables, window_filter
from mlmonitor.window import Window, schedule_interval

# A prediction mean moves "materially" when it leaves training by this many training stds
# AND by more than 5 standard errors of the window mean.
_MEAN_SHIFT_STD = 0.1
_MEAN_SHIFT_SE = 5.0
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


WHY = {
    "wasserstein": "how far the values moved, in training standard deviations (0.1 = a tenth of a std): "
    "readable, and sensitive to shifts of location and spread alike; binned over the frozen training bins "
    "with the training bin means as atoms",
    "psi": "population stability index over the frozen bins: the industry's classic stability measure",
    "js": "Jensen-Shannon distance over the frozen bins: bounded in [0, 1] and symmetric",
    "ks": "Kolmogorov-Smirnov distance of the binned CDFs (max CDF gap at the frozen bin edges); the exact KS "
    "would need every value sorted, i.e. raw rows out of the warehouse",
    "linf": "largest change of one category's share, 'other' (unseen values) included: a surging or new "
    "category is not diluted across the others as in PSI or JS",
    "null_rate": "absolute change of the NULL share; NULLs are kept out of the distribution buckets, so a null "
    "surge is its own signal; evidence from Fisher's exact test, valid even when training had no NULLs",
}
EVIDENCE = (
    "chi-squared homogeneity test of training vs window counts (accounts for both sample sizes), "
    "Benjamini-Hochberg across all signals of the window"
)


def _inputs(
    model: ModelConfig,
    baseline: Baseline,
    counts: dict[str, prof.ColumnCounts],
    plan: dict[str, tuple[str, float, float]],
) -> list[ColumnInput]:
    out = []
    numeric: dict[str, NumericBaseline] = {**baseline.numeric, model.prediction.column: baseline.prediction}
    for name, (method, threshold, null_threshold) in plan.items():
        cur = counts[name]
        if name in numeric:
            nb = numeric[name]
            ref, ref_nulls, scale = nb.counts, nb.nulls, nb.std or 0.0
            atoms = nb.bin_means or ([nb.edges[0], *nb.edges] if nb.edges else [0.0])
            kind: Kind = "numeric"
        else:
            cb = baseline.categorical[name]
            ref = [cb.top[v] for v in sorted(cb.top)] + [cb.other]
            ref_nulls, atoms, scale, kind = cb.nulls, [], 0.0, "categorical"
        out.append(
            ColumnInput(
                name, kind, method, threshold, null_threshold, ref, ref_nulls, cur.counts, cur.nulls, atoms, scale
            )
        )
    return out


def drift_plan(
    model: ModelConfig,
    baseline: Baseline,
    columns: Sequence[str] | None = None,
    servable: Sequence[str] | None = None,
) -> dict[str, tuple[str, float, float]]:
    """(method, threshold, null-rate threshold) per monitored column: the baseline's features (of the
    `columns` subset, and among the `servable` ones: a feature missing or retyped in serving is left
    out), then the prediction."""
    known = {*baseline.numeric, *baseline.categorical, model.prediction.column}
    unknown = sorted(set(model.drift.columns) - known)
    if unknown:
        raise ConfigError(
            f"{model.name}: drift.columns names {unknown}, which are not monitored columns "
            f"({', '.join(sorted(known))}); fix the column names in the model YAML"
        )
    wanted = set(columns) if columns else None
    plan: dict[str, tuple[str, float, float]] = {}
    kinds = [(n, "numeric") for n in baseline.numeric] + [(n, "categorical") for n in baseline.categorical]
    for name, kind in [*kinds, (model.prediction.column, "numeric")]:
        feature = name != model.prediction.column
        if feature and ((wanted is not None and name not in wanted) or (servable is not None and name not in servable)):
            continue
        rule = model.drift.rule(name, kind)  # type: ignore[arg-type]
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
) -> list[Metric]:
    """Feature and prediction drift from ONE aggregate query over the window, decided per signal
    (effect size AND BH-controlled evidence), plus the dataset-level drifted share."""
    where = window_filter(tables.ts(model), window)
    plan = drift_plan(model, baseline, columns, tables.features)
    numeric = {**baseline.numeric, model.prediction.column: baseline.prediction}
    _, counts = prof.window_counts(
        engine,
        tables.serving,
        {n: numeric[n].edges for n in plan if n in numeric},
        {n: sorted(baseline.categorical[n].top) for n in plan if n not in numeric},
        where,
    )
    results = assess(_inputs(model, baseline, counts, plan), model.drift.fdr)
    out: list[Metric] = []
    for r in results:
        unseen = None
        c = r.input
        if c.kind == "categorical" and c.current[-1] and c.reference[-1] == 0:
            unseen = prof.unseen_values(
                engine, tables.serving.c[c.column], sorted(baseline.categorical[c.column].top), where
            )
        out += _column_rows(model, baseline, r, unseen)
    drifted = [r.input.column for r in results if r.drifted]
    share = len(drifted) / len(results) if results else 0.0
    dataset_status: Status = "alert" if share >= model.drift.dataset_drift_share else "ok"
    out.append(
        Metric(
            "drift",
            "",
            "drifted_share",
            share,
            dataset_status,
            model.drift.dataset_drift_share,
            details={
                "drifted_columns": drifted,
                "columns": len(results),
                "rule": "alert when the share of columns with a drifted signal reaches dataset_drift_share",
            },
        )
    )
    return out


def _column_rows(
    model: ModelConfig, baseline: Baseline, r: DriftResult, unseen: list[tuple[str, int]] | None
) -> list[Metric]:
    """The decision row of the distribution (every other distance in its details) and the null-rate row."""
    c = r.input
    ref_rate, cur_rate = null_rates(c)
    common = {
        "kind": c.kind,
        "n_train": sum(c.reference) + c.reference_nulls,
        "n_window": sum(c.current) + c.current_nulls,
        "bins_version": baseline.bins_version,
        "fdr": model.drift.fdr,
    }

    def audit(d: Decision, why: str, evidence: str) -> dict[str, Any]:
        return {
            "method": d.signal.metric,
            "why": why,
            "evidence": evidence,
            **common,
            "threshold": d.signal.threshold,
            "effect_size": d.signal.effect,
            "p_value": d.signal.p_value,
            "q_value": d.q_value,
            "decision": "drift" if d.drifted else "no drift",
        }

    dist, nulls = r.distribution, r.null_rate
    main = audit(dist, WHY[c.method], EVIDENCE) | {"distances": r.distances}
    if unseen:
        main["unseen_values"] = [{"value": v, "count": n} for v, n in unseen]
    return [
        Metric("drift", c.column, c.method, dist.signal.effect, _status(dist), c.threshold, dist.q_value, main),
        Metric(
            "drift",
            c.column,
            "null_rate_shift",
            cur_rate - ref_rate,
            _status(nulls),
            c.null_threshold,
            nulls.q_value,
            audit(nulls, WHY["null_rate"], "Fisher's exact test, Benjamini-Hochberg across all signals")
            | {"training_null_rate": ref_rate, "window_null_rate": cur_rate},
        ),
    ]


def _status(d: Decision) -> Status:
    return "warning" if d.drifted else "ok"


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


def window_length(model: ModelConfig, window: Window) -> Metric:
    """How many schedule intervals the window spans; far more than one is an explicit warning."""
    interval = schedule_interval(model.schedule, window.start)
    # total_seconds(): the bounds may be pendulum datetimes (Airflow's data interval), whose
    # difference does not divide by a stdlib timedelta
    ratio = (window.end - window.start).total_seconds() / interval.total_seconds()
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
    drifted = sorted({m.column for m in metrics if m.check == "drift" and m.column and m.status != "ok"})
    status: Status = "no_data" if rows == 0 else worst([m.status for m in metrics])
    parts = [f"{rows} rows"]
    if failed:
        parts.append(f"{len(failed)} failed expectation(s): " + ", ".join(sorted({_label(m) for m in failed})))
    if drifted:
        parts.append("drift in " + ", ".join(drifted))
    flagged = [m for m in metrics if m.check in {"stats", "health", "performance"} and m.status != "ok"]
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
    """`metric(column)`, with the change a schema row names: `schema_changes(serve: added new_feature)`."""
    inner = ": ".join(str(x) for x in (m.column, m.details.get("change")) if x)
    return f"{m.metric}({inner})" if inner else m.metric
