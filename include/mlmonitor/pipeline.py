"""The monitoring steps, in the order both the Airflow tasks and the CLI run them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Engine

from mlmonitor.checks import drift as monitor
from mlmonitor.checks import health, skew
from mlmonitor.checks import performance as quality
from mlmonitor.checks.schema import schema_metrics
from mlmonitor.config import ModelConfig
from mlmonitor.errors import BaselineMissing, ConfigError
from mlmonitor.metrics import Metric, RunSummary
from mlmonitor.project import GxProject
from mlmonitor.storage.baselines import Baseline, derive_baseline, fingerprint, load_baseline, save_baseline
from mlmonitor.storage.results import replace_check, write_results
from mlmonitor.storage.suites import (
    build_schema_suite,
    build_suite,
    read_suite,
    schema_suite_name,
    suite_path,
    write_suite,
)
from mlmonitor.warehouse import ModelTables, expected_types, resolve_tables, unavailable_as_error
from mlmonitor.window import Window


def derive(model: ModelConfig, engine: Engine, project: GxProject, gx_version: str) -> dict[str, Any]:
    """Profile the training table, store the drift baseline and (re-)derive the suite."""
    tables = resolve_tables(model, engine)
    baseline = derive_baseline(model, engine, tables)
    baseline = baseline.model_copy(update={"performance": quality.training_performance(engine, model, tables)})
    save_baseline(baseline, project.baseline_path(model.name))
    path = suite_path(project.suites_dir, model.name)
    suite = build_suite(model, baseline, read_suite(path), gx_version)
    changed = write_suite(suite, path)
    schema_path = suite_path(project.suites_dir, schema_suite_name(model.name))
    types = serving_types(model, engine, tables)
    schema = build_schema_suite(model, baseline, types, read_suite(schema_path), gx_version)
    changed = write_suite(schema, schema_path) or changed
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
    }


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


@dataclass(frozen=True)
class Prepared:
    tables: ModelTables
    baseline: Baseline
    rows: int
    versions: dict[str, int]


def prepare(model: ModelConfig, engine: Engine, project: GxProject, window: Window) -> Prepared:
    """Check the schema, load the baseline and count the window (fails early with a clear error).

    Features missing from the serving table or retyped there are left out of the window
    statistics; validation names them."""
    with unavailable_as_error(engine):
        tables = resolve_tables(model, engine).servable()
        baseline = load_baseline(project.baseline_path(model.name), model.name)
        rows, versions = monitor.window_volume(engine, model, tables, window)
    return Prepared(tables, baseline, rows, versions)


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


def analyse(
    model: ModelConfig,
    engine: Engine,
    results_engine: Engine,
    p: Prepared,
    window: Window,
    columns: Sequence[str] | None = None,
) -> list[Metric]:
    """Prediction statistics, drift, health and performance of a non-empty window."""
    if p.rows == 0:
        return []
    wanted = check_columns(model, p.tables, columns)
    schema = [
        Metric("health", c, "serving_schema", None, "alert", details={"problem": why, "effect": "left out of drift"})
        for c, why in p.tables.schema_issues.items()
    ]
    with unavailable_as_error(engine):
        return [
            *schema,
            *monitor.prediction_stats(engine, model, p.tables, p.baseline, window),
            *monitor.drift_metrics(engine, model, p.tables, p.baseline, window, wanted),
            *health_checks(model, engine, results_engine, p, window),
            *quality.performance_metrics(engine, model, p.tables, window, p.baseline.performance, window.end),
            monitor.window_length(model, window),
        ]


def health_checks(
    model: ModelConfig, engine: Engine, results_engine: Engine, p: Prepared, window: Window
) -> list[Metric]:
    """Versions, staleness, numerical stability, serving health (against the trailing healthy windows),
    training/serving skew and upstream schema changes of a non-empty window."""
    tables = (p.tables.training, p.tables.serving)
    return [
        *health.version_metrics(model, p.versions),
        *health.staleness_metrics(engine, model, window, p.versions, p.baseline.fingerprint.max_timestamp),
        *health.stability_metrics(engine, model, p.tables, window),
        *health.operations_metrics(
            engine, model, p.tables, window, p.rows, health.trailing(results_engine, model, window)
        ),
        *skew.skew_metrics(engine, model, p.tables, window),
        *schema_metrics(results_engine, model, tables, engine.dialect, window, p.baseline.schemas),
    ]


def rescore(
    model: ModelConfig, engine: Engine, results_engine: Engine, project: GxProject, as_of: dt.datetime, lookback: int
) -> list[tuple[Window, list[Metric]]]:
    """Re-score the `lookback` windows ending at `as_of` with the labels arrived by then, replacing
    only their `performance` rows (the other checks' rows stay)."""
    tables = resolve_tables(model, engine)
    baseline = load_baseline(project.baseline_path(model.name), model.name)
    out = []
    for window in quality.recent_windows(model, as_of, lookback):
        rows = quality.performance_metrics(engine, model, tables, window, baseline.performance, as_of)
        if not rows:  # no predictions in the window: nothing to score
            continue
        replace_check(results_engine, model.name, window.start, window.end, "performance", rows)
        out.append((window, rows))
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
) -> RunSummary:
    """Summarise and write the run and its metrics (replacing any earlier rows of the window)."""
    summary = monitor.summarize(model, window, rows, versions, metrics, docs_path, run_id)
    write_results(results_engine, summary, metrics, now)
    return summary
