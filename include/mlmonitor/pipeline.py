"""The monitoring steps, in the order both the Airflow tasks and the CLI run them."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypedDict

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from mlmonitor import profile as prof
from mlmonitor.checks import performance
from mlmonitor.checks.base import WindowContext
from mlmonitor.checks.drift_thresholds import with_learned_thresholds
from mlmonitor.checks.registry import window_checks
from mlmonitor.config import ModelConfig
from mlmonitor.dialect import exact_text
from mlmonitor.errors import BaselineMissing, ConfigError
from mlmonitor.limits import bound_versions
from mlmonitor.metrics import Metric, RunSummary, Status, drifted_columns, worst
from mlmonitor.names import schema_suite_name
from mlmonitor.project import GxProject
from mlmonitor.storage.baselines import Baseline, derive_baseline, fingerprint, load_baseline, save_baseline
from mlmonitor.storage.files import model_lock
from mlmonitor.storage.results import replace_check, write_results
from mlmonitor.storage.retention import prune_results, prune_validations
from mlmonitor.storage.suites import build_schema_suite, build_suite, read_suite, suite_path, write_suite
from mlmonitor.warehouse import ModelTables, expected_types, resolve_tables, unavailable_as_error, window_filter
from mlmonitor.window import Window


class Derived(TypedDict):
    """What a derivation wrote (the baseline DAG's `derive` returns it)."""

    model: str
    suite: str
    suite_changed: bool
    expectations: int
    schema_suite: str
    schema_expectations: int
    baseline: str
    fingerprint: dict[str, Any]
    numeric: list[str]
    categorical: list[str]
    warnings: list[str]  # what the training data lacks (Baseline.warnings)


def derive(model: ModelConfig, engine: Engine, project: GxProject, gx_version: str) -> Derived:
    """Profile the training table, store the drift baseline and (re-)derive the suite."""
    tables = resolve_tables(model, engine)
    baseline = with_learned_thresholds(model, engine, tables, derive_baseline(model, engine, tables))
    baseline = baseline.model_copy(
        update={
            "performance": performance.training_performance(engine, model, tables),
            "calibration": performance.calibration(engine, model, tables),
        }
    )
    types = serving_types(model, engine, tables)
    suite, schema, changed = store_derivation(project, model, baseline, types, gx_version)
    path = suite_path(project.suites_dir, model.name)
    schema_path = suite_path(project.suites_dir, schema_suite_name(model.name))
    return {
        "model": model.name,
        "suite": str(path),
        "suite_changed": changed,
        "expectations": len(suite["expectations"]),
        "schema_suite": str(schema_path),
        "schema_expectations": len(schema["expectations"]),
        "baseline": str(project.baseline_path(model.name)),
        "fingerprint": baseline.fingerprint.model_dump(),
        "numeric": list(tables.numeric),
        "categorical": list(tables.categorical),
        "warnings": list(baseline.warnings),
    }


def store_derivation(
    project: GxProject,
    model: ModelConfig,
    baseline: Baseline,
    types: dict[str, list[str] | None],
    gx_version: str,
) -> tuple[dict[str, Any], dict[str, Any], bool]:
    """Write the baseline and both suites (keeping their manual expectations) under the model's lock,
    each file replaced in one step: a validation reads both suites of one derivation (`read_suites`),
    a monitor run never a half-written file. Returns the suites and whether either file changed."""
    path = suite_path(project.suites_dir, model.name)
    schema_path = suite_path(project.suites_dir, schema_suite_name(model.name))
    with model_lock(project.suites_dir, model.name):
        save_baseline(baseline, project.baseline_path(model.name))
        suite = build_suite(model, baseline, read_suite(path), gx_version)
        changed = write_suite(suite, path)
        schema = build_schema_suite(model, baseline, types, read_suite(schema_path), gx_version)
        changed = write_suite(schema, schema_path) or changed
    return suite, schema, changed


def serving_types(model: ModelConfig, engine: Engine, tables: ModelTables) -> dict[str, list[str] | None]:
    """Accepted type names of every validated column, from its serving type (training's when the
    serving table lacks it)."""
    s = model.serving
    out: dict[str, list[str] | None] = {}
    for name in (s.timestamp_column, s.id_column, model.prediction.column, *tables.features):
        source = tables.serving if name in tables.serving.c else tables.training
        out[name] = expected_types(engine, source.c[name]) if name in source.c else None
    return out


def training_changed(model: ModelConfig, engine: Engine, project: GxProject) -> tuple[bool, str]:
    """Whether the training data differs from what the stored baseline was derived from, and why."""
    path = project.baseline_path(model.name)
    if not path.exists():
        return True, f"no baseline at {path} yet"
    try:
        stored = load_baseline(path, model.name).fingerprint
    except BaselineMissing as exc:  # corrupt, or written by an older mlmonitor: derive it anew
        return True, str(exc)
    current = fingerprint(model, engine, resolve_tables(model, engine))
    if current == stored:
        return False, f"training table {model.training.table} unchanged ({current.rows} rows)"
    return True, (
        f"training table {model.training.table} changed: rows {stored.rows} -> {current.rows}, "
        f"newest timestamp {stored.max_timestamp} -> {current.max_timestamp}, "
        f"content hash {stored.content_hash[:12]} -> {current.content_hash[:12]}"
    )


@dataclass(frozen=True, kw_only=True)
class Prepared:
    tables: ModelTables
    baseline: Baseline
    rows: int
    versions: dict[str, int]


def window_volume(
    engine: Engine, model: ModelConfig, tables: ModelTables, window: Window
) -> tuple[int, dict[str, int]]:
    """Rows in the window and rows per model version: the `serving.max_model_versions` most served
    (one GROUP BY, clipped to VERSION_CHARS), the others summed under OTHER_VERSIONS."""
    where = window_filter(tables.ts(model), window)
    rows = prof.row_count(engine, tables.serving, where)
    vcol = model.serving.model_version_column
    if not vcol or not rows:
        return rows, {}
    version = exact_text(tables.serving.c[vcol])
    n = sa.func.count()
    stmt = sa.select(version, n).where(where).group_by(version).order_by(n.desc(), version)
    with engine.connect() as conn:
        top = {str(v): int(c) for v, c in conn.execute(stmt.limit(model.serving.max_model_versions))}
    return rows, bound_versions(top, rows)


def prepare(model: ModelConfig, engine: Engine, project: GxProject, window: Window) -> Prepared:
    """Check the schema, load the baseline and count the window (fails early with a clear error).

    Features missing from the serving table or retyped there are left out of the window
    statistics; validation names them."""
    with unavailable_as_error(engine):
        tables = resolve_tables(model, engine).servable()
        baseline = load_baseline(project.baseline_path(model.name), model.name)
        rows, versions = window_volume(engine, model, tables, window)
    return Prepared(tables=tables, baseline=baseline, rows=rows, versions=versions)


def check_columns(model: ModelConfig, tables: ModelTables, columns: Sequence[str] | None) -> list[str] | None:
    """Validate a column subset asked for in a trigger form or on the command line."""
    if not columns:
        return None
    unknown = sorted(set(columns) - set(tables.features))
    if unknown:
        raise ConfigError(
            f"{model.name}: columns {unknown} are not monitored features "
            f"(features: {', '.join(tables.features)}); fix the 'columns' param"
        )
    return list(columns)


def window_context(
    model: ModelConfig,
    engine: Engine,
    results_engine: Engine,
    p: Prepared,
    window: Window,
    columns: Sequence[str] | None = None,
) -> WindowContext:
    """What every check reads about a prepared window (the column subset checked against the features)."""
    return WindowContext(
        model=model,
        engine=engine,
        results_engine=results_engine,
        tables=p.tables,
        baseline=p.baseline,
        window=window,
        rows=p.rows,
        versions=p.versions,
        columns=check_columns(model, p.tables, columns),
    )


def analyse(
    model: ModelConfig,
    engine: Engine,
    results_engine: Engine,
    p: Prepared,
    window: Window,
    columns: Sequence[str] | None = None,
) -> list[Metric]:
    """Every registered window check (checks.registry) on a non-empty window, in order."""
    if p.rows == 0:
        return []
    context = window_context(model, engine, results_engine, p, window, columns)
    with unavailable_as_error(engine):
        for check in window_checks():
            context.produced.extend(check.run(context))
    return list(context.produced)


@dataclass(frozen=True, kw_only=True)
class Rescored:
    """One re-scored window: its performance rows and its run row's status before and after (None
    when the window has no run row, i.e. it was never monitored)."""

    window: Window
    metrics: list[Metric]
    previous_status: Status | None = None
    status: Status | None = None

    @property
    def regressed(self) -> list[Metric]:
        return [m for m in self.metrics if m.status != "ok"]


def rescore(
    model: ModelConfig,
    engine: Engine,
    results_engine: Engine,
    project: GxProject,
    as_of: dt.datetime,
    lookback: int,
    now: dt.datetime | None = None,
) -> list[Rescored]:
    """Re-score the `lookback` windows ending at `as_of` with the labels arrived by then, replacing
    only their `performance` rows (the other checks' rows stay). The run row of each window takes
    the status of all its rows again, so a quality regression found now shows in the window's status
    (`monitor_status` keeps what the monitor run said, `rescored_at` when this happened)."""
    tables = resolve_tables(model, engine)
    baseline = load_baseline(project.baseline_path(model.name), model.name)
    out = []
    for window in performance.recent_windows(model, as_of, lookback):
        rows = performance.performance_metrics(
            engine, model, tables, window, baseline.performance, as_of, baseline.calibration
        )
        rows = performance.with_history(model, results_engine, window, rows)
        if not rows:  # no predictions in the window: nothing to score
            continue

        def restatus(run: Mapping[str, Any], stored: Sequence[Metric], window: Window = window) -> tuple[Status, str]:
            versions = json.loads(run["model_versions"] or "{}")
            summary = summarize(model, window, int(run["rows"] or 0), versions, stored)
            return summary.status, summary.message

        change = replace_check(
            results_engine, model.name, window.start, window.end, "performance", rows, restatus=restatus, now=now
        )
        before, after = change if change else (None, None)
        out.append(Rescored(window=window, metrics=rows, previous_status=before, status=after))
    return out


def persist(
    model: ModelConfig,
    results_engine: Engine,
    window: Window,
    rows: int,
    versions: dict[str, int],
    metrics: Sequence[Metric],
    docs_path: str | None,
    run_id: str | None,
    now: dt.datetime,
    *,
    adhoc: bool = False,
) -> RunSummary:
    """Summarise and write the run and its metrics (replacing any earlier rows of the window); an
    `adhoc` window (trigger form) is recorded as such and stays out of trailing history."""
    summary = replace(summarize(model, window, rows, versions, metrics, docs_path, run_id), adhoc=adhoc)
    write_results(results_engine, summary, metrics, now)
    return summary


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
    drifted = drifted_columns(metrics)
    status: Status = "no_data" if rows == 0 else worst(m.status for m in metrics)
    parts = [f"{rows} rows"]
    if failed:
        parts.append(f"{len(failed)} failed expectation(s): " + ", ".join(sorted({_label(m) for m in failed})))
    if drifted:
        parts.append("drift in " + ", ".join(drifted))
    flagged = [m for m in metrics if m.check not in {"validation", "drift", "performance"} and m.status != "ok"]
    if flagged:
        parts.append("warnings: " + ", ".join(sorted({_label(m) for m in flagged})))
    quality = [m for m in metrics if m.check == "performance" and m.status != "ok"]
    if quality:  # found when labels arrive, usually by the labels DAG after the monitor run
        parts.append("quality regressed: " + ", ".join(sorted({_label(m) for m in quality})))
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


class Pruned(TypedDict):
    """What retention removed of one model."""

    model: str
    runs: int  # mlmonitor_runs rows
    metrics: int  # mlmonitor_metrics rows
    validations: int  # validation runs: their Data Docs pages and stored validation results


def prune(model: ModelConfig, results_engine: Engine, project: GxProject, before: dt.datetime) -> Pruned:
    """Remove what is kept of `model`'s windows that started before `before`: results rows first,
    then validation results and Data Docs pages, and the model's validation index rewritten without
    the pages that are gone (whenever it exists: a run stopped between the two left them in it), all under
    the model's lock (a validation writing its index meanwhile would add the removed pages back)."""
    from mlmonitor.checks.validation import drop_missing_pages

    runs, metrics = prune_results(results_engine, model.name, before)
    with model_lock(project.suites_dir, model.name):
        validations = prune_validations(project, model.name, before)
        if validations or project.model_index_path(model.name).exists():
            drop_missing_pages(project, model.name, locked=True)
    return {"model": model.name, "runs": runs, "metrics": metrics, "validations": validations}
