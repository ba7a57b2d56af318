"""Validate one window of serving logs with the model's suite through a file-backed GE context.

The batch is a query asset restricted to [window_start, window_end), so GE pushes its metrics
into the database. The connection string reaches GE through an environment variable that
only exists in this process: great_expectations.yml holds `${...}`, never a password.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from mlmonitor.config import ModelConfig
from mlmonitor.errors import BaselineMissing
from mlmonitor.metrics import Metric
from mlmonitor.project import GxProject
from mlmonitor.suites import read_suite, suite_path
from mlmonitor.warehouse import ModelTables, window_filter
from mlmonitor.window import Window

PARTIAL_UNEXPECTED = 20


@dataclass(frozen=True)
class ValidationOutcome:
    success: bool
    metrics: list[Metric]
    docs_path: str | None


@contextmanager
def _project_lock(project: GxProject) -> Iterator[None]:
    """GE rewrites great_expectations.yml when a datasource changes: one writer at a time per machine."""
    project.gx_dir.mkdir(parents=True, exist_ok=True)
    with open(project.gx_dir / ".mlmonitor.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def window_query(engine: Engine, model: ModelConfig, tables: ModelTables, window: Window) -> str:
    """SELECT of the window, compiled by the warehouse dialect with the bounds as literals.

    GE query assets take SQL text; the bounds are datetimes we produced, never user strings.
    """
    stmt = sa.select(tables.serving).where(window_filter(tables.ts(model), window))
    return str(stmt.compile(engine, compile_kwargs={"literal_binds": True}))


def validate_window(
    project: GxProject, model: ModelConfig, engine: Engine, tables: ModelTables, window: Window
) -> ValidationOutcome:
    """Run the model's suite on the window; failures are results, not exceptions."""
    import great_expectations as gx
    from great_expectations.checkpoint.actions import UpdateDataDocsAction
    from great_expectations.core.run_identifier import RunIdentifier

    path = suite_path(project.suites_dir, model.name)
    if read_suite(path) is None:
        raise BaselineMissing(
            f"{model.name}: no expectation suite at {path}; derive it with "
            f"`mlmonitor baseline {model.name}` or trigger mlmonitor_{model.name}_baseline"
        )
    env = f"MLMONITOR_GX_URL_{model.name.upper()}"
    os.environ[env] = engine.url.render_as_string(hide_password=False)
    with _project_lock(project):
        context = gx.get_context(mode="file", project_root_dir=str(project.root))
        source = context.data_sources.add_or_update_sql(name=f"{model.name}_warehouse", connection_string=f"${{{env}}}")
        asset_name = f"{model.name}_window"
        if asset_name in {a.name for a in source.assets}:
            source.delete_asset(asset_name)
        asset = source.add_query_asset(name=asset_name, query=window_query(engine, model, tables, window))
        batch = asset.add_batch_definition_whole_table("window")
        definition = context.validation_definitions.add_or_update(
            gx.ValidationDefinition(name=model.name, data=batch, suite=context.suites.get(model.name))
        )
        checkpoint = context.checkpoints.add_or_update(
            gx.Checkpoint(
                name=model.name,
                validation_definitions=[definition],
                actions=[UpdateDataDocsAction(name="update_data_docs")],
                result_format={"result_format": "SUMMARY", "partial_unexpected_count": PARTIAL_UNEXPECTED},
            )
        )
        result = checkpoint.run(run_id=RunIdentifier(run_name=f"{model.name} {window.start:%Y-%m-%dT%H:%M}"))
        ((identifier, run),) = result.run_results.items()
        docs_path = _docs_path(context.get_docs_sites_urls(resource_identifier=identifier), project)
    metrics = [_metric(r.expectation_config, r.success, r.result, r.exception_info) for r in run.results]
    return ValidationOutcome(bool(result.success), metrics, docs_path)


def _docs_path(urls: list[dict[str, Any]], project: GxProject) -> str | None:
    """The page path relative to the Data Docs folder (portable across machines and the UI)."""
    from urllib.parse import unquote, urlparse

    for site in urls:
        page = Path(unquote(urlparse(site["site_url"]).path))
        if page.is_relative_to(project.docs_dir):
            return str(page.relative_to(project.docs_dir))
    return None


def _metric(config: Any, success: bool | None, result: dict[str, Any], exception: dict[str, Any]) -> Metric:
    kwargs = {k: v for k, v in config.kwargs.items() if k not in {"batch_id"}}
    observed = result.get("observed_value", result.get("unexpected_percent"))
    details: dict[str, Any] = {"kwargs": kwargs, "rule": (config.meta or {}).get("mlmonitor", {}).get("rule", "manual")}
    for key in (
        "element_count",
        "unexpected_count",
        "unexpected_percent",
        "missing_count",
        "partial_unexpected_counts",
    ):
        if key in result:
            details[key] = result[key]
    if exception and exception.get("raised_exception"):
        details["error"] = exception.get("exception_message")
    value = float(observed) if isinstance(observed, (int, float)) else None
    if value is None and observed is not None:
        details["observed_value"] = json.loads(json.dumps(observed, default=str))
    return Metric(
        "validation",
        kwargs.get("column", ""),
        config.type,
        value,
        "ok" if success else "alert",
        kwargs.get("mostly"),
        details=details,
    )
