"""Validate one window of serving logs with the model's suite through a file-backed GE context.

The batch is a query asset restricted to [window_start, window_end), so GE pushes its metrics
into the database. The connection string reaches GE through an environment variable that
only exists in this process: great_expectations.yml holds `${...}`, never a password.
"""

from __future__ import annotations

import fcntl
import html
import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict, cast
from urllib.parse import quote

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from mlmonitor.checks.base import CheckInfo
from mlmonitor.config import ModelConfig
from mlmonitor.dialect import for_great_expectations
from mlmonitor.errors import BaselineMissing
from mlmonitor.limits import VALUE_CHARS, clip
from mlmonitor.metrics import Metric
from mlmonitor.names import derive_hint, schema_suite_name
from mlmonitor.project import GxProject
from mlmonitor.storage.suites import read_suite, suite_path
from mlmonitor.warehouse import ModelTables, window_filter
from mlmonitor.window import Window


def result_format(model: ModelConfig) -> dict[str, Any]:
    """GE result format: counts always, at most `validation.sample_values` raw values per expectation
    (they end up in Data Docs pages, metric details and alerts), never whole unexpected rows."""
    n = model.validation.sample_values
    return {
        "result_format": "SUMMARY" if n else "BASIC",
        "partial_unexpected_count": n,
        "include_unexpected_rows": False,
        "return_unexpected_index_query": False,
    }


class UnexpectedCount(TypedDict):
    value: Any
    count: int


class ValidationDetails(TypedDict, total=False):
    """One expectation's result (GE's result keys where GE gave them)."""

    kwargs: dict[str, Any]  # the expectation's arguments (column, value_set, mostly ...)
    rule: str  # the derivation rule of meta.mlmonitor, or "manual"
    element_count: int
    unexpected_count: int
    unexpected_percent: float
    missing_count: int
    partial_unexpected_counts: list[UnexpectedCount]  # at most validation.sample_values raw values
    observed_value: Any  # a non-numeric observed value (numeric ones are the row's value)
    error: str  # the exception GE raised evaluating it


_RESULT_KEYS = ("element_count", "unexpected_count", "unexpected_percent", "missing_count", "partial_unexpected_counts")

VALIDATION = CheckInfo(
    name="validation",
    family="validation",
    summary="the Great Expectations suites derived from training (the validate task; one row per expectation)",
    statuses={"alert": "an expectation failed (a value out of range or set, NULLs, duplicate ids, row count, types)"},
)


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
    from great_expectations.data_context.types.base import ProgressBarsConfig

    path = suite_path(project.suites_dir, model.name)
    if read_suite(path) is None:
        raise BaselineMissing(f"{model.name}: no expectation suite at {path}; {derive_hint(model.name)}")
    schema_suite = schema_suite_name(model.name)
    has_schema = read_suite(suite_path(project.suites_dir, schema_suite)) is not None
    env = f"MLMONITOR_GX_URL_{model.name.upper()}"
    os.environ[env] = for_great_expectations(engine.url).render_as_string(hide_password=False)
    with _project_lock(project):
        context = gx.get_context(mode="file", project_root_dir=str(project.root))
        # GE draws tqdm bars on stderr, which Airflow logs at ERROR level: a worker's log is no place for them
        context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
        source = context.data_sources.add_or_update_sql(name=f"{model.name}_warehouse", connection_string=f"${{{env}}}")
        known = {a.name for a in source.assets}
        for name in (f"{model.name}_window", f"{model.name}_serving"):
            if name in known:
                source.delete_asset(name)
        window_batch = source.add_query_asset(
            name=f"{model.name}_window", query=window_query(engine, model, tables, window)
        ).add_batch_definition_whole_table("window")
        definitions = [
            context.validation_definitions.add_or_update(
                gx.ValidationDefinition(name=model.name, data=window_batch, suite=context.suites.get(model.name))
            )
        ]
        if has_schema:
            # GE reflects column types of tables only (not of queries): the schema suite runs on
            # the serving table itself, which costs a catalogue lookup, not a scan.
            table_batch = source.add_table_asset(
                name=f"{model.name}_serving",
                table_name=tables.serving.name,
                schema_name=tables.serving.schema,
            ).add_batch_definition_whole_table("table")
            definitions.append(
                context.validation_definitions.add_or_update(
                    gx.ValidationDefinition(name=schema_suite, data=table_batch, suite=context.suites.get(schema_suite))
                )
            )
        checkpoint = context.checkpoints.add_or_update(
            gx.Checkpoint(
                name=model.name,
                validation_definitions=definitions,
                actions=[UpdateDataDocsAction(name="update_data_docs")],
                result_format=result_format(model),
            )
        )
        result = checkpoint.run(run_id=RunIdentifier(run_name=f"{model.name} {window.start:%Y-%m-%dT%H:%M}"))
        docs_path = None
        metrics: list[Metric] = []
        for identifier, run in result.run_results.items():
            metrics += [_metric(r.expectation_config, r.success, r.result, r.exception_info) for r in run.results]
            if run.suite_name == model.name:
                docs_path = _docs_path(context.get_docs_sites_urls(resource_identifier=identifier), project)
        write_model_index(project, model.name)
    return ValidationOutcome(bool(result.success), metrics, docs_path)


def write_model_index(project: GxProject, model: str) -> Path:
    """A Data Docs page listing the model's validations by window, newest window first: one row per
    window with the outcome of its rows (suite `<model>`) and of the serving table's types (suite
    `<model>_schema`), each linking its latest validation; re-validations of a window are counted.

    GE's own index lists every suite of every model, each window twice and dated by validation time;
    this one is the page a model's users want.
    """
    site = project.docs_dir
    windows: dict[str, dict[str, list[Path]]] = {}
    for suite in (model, schema_suite_name(model)):
        for page in (site / "validations" / suite).glob("*/*/*.html"):
            windows.setdefault(page.parts[-3], {}).setdefault(suite, []).append(page)
    rows = []
    for run_name in sorted(windows, key=_window_of_run, reverse=True):
        cells = []
        for suite in (model, schema_suite_name(model)):
            pages = sorted(windows[run_name].get(suite, []), key=lambda p: p.parts[-2])
            if not pages:
                cells.append('<td class="none">not validated</td>')
                continue
            latest = pages[-1]
            rel = latest.relative_to(site)
            label = _outcome(project, rel)
            again = f' <span class="n">({len(pages)} validations)</span>' if len(pages) > 1 else ""
            cells.append(
                f'<td class="{label.lower()}"><a href="../{html.escape(quote(str(rel)))}">{label}</a>{again}</td>'
            )
        validated = max(p.parts[-2] for pages in windows[run_name].values() for p in pages)
        rows.append(
            f"<tr><td>{html.escape(_window_of_run(run_name).replace('T', ' '))}</td>{''.join(cells)}"
            f"<td>{html.escape(_validated_at(validated))}</td></tr>"
        )
    index = site / "mlmonitor" / f"{model}.html"
    index.parent.mkdir(parents=True, exist_ok=True)
    index.write_text(
        _INDEX.format(model=html.escape(model), rows="\n".join(rows) or '<tr><td colspan="4">none yet</td></tr>'),
        encoding="utf-8",
    )
    return index


def _window_of_run(run_name: str) -> str:
    """The window start in a validation's run name (`<model> <start>`, as `validate_window` names runs)."""
    return run_name.rpartition(" ")[2] or run_name


def _validated_at(run_time: str) -> str:
    """GE's run time folder name (20240421T101500.123456Z) as 2024-04-21 10:15 UTC."""
    match = re.match(r"(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})", run_time)
    return f"{'-'.join(match.groups()[:3])} {match.group(4)}:{match.group(5)} UTC" if match else run_time


def _outcome(project: GxProject, rel: Path) -> str:
    stored = project.gx_dir / "uncommitted" / rel.with_suffix(".json")
    success = json.loads(stored.read_text(encoding="utf-8")).get("success") if stored.exists() else None
    return {True: "passed", False: "FAILED", None: "unknown"}[success]


_INDEX = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Validations of {model}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 1.5em; color: #18181b; background: #fff; }}
table {{ border-collapse: collapse; }} a {{ color: #1d4ed8; }}
td, th {{ padding: .3em .8em; border-bottom: 1px solid #ddd; text-align: left; }}
td.failed a {{ color: #b00020; font-weight: bold; }} td.passed a {{ color: #1b7f3b; }} .n, .none {{ color: #777; }}
@media (prefers-color-scheme: dark) {{
  body {{ color: #e4e4e7; background: #111827; }} td, th {{ border-color: #2a3444; }} a {{ color: #7aa7ff; }}
  td.failed a {{ color: #f05252; }} td.passed a {{ color: #4caf50; }}
}}
</style></head>
<body><h1>Validations of model {model}</h1>
<p>Newest window first. Each window is validated twice: its rows (suite <code>{model}</code>) and the serving
table's column types (suite <code>{model}_schema</code>); each cell links the latest validation.
<a href="../index.html">All Data Docs</a></p>
<table><tr><th>Window start (UTC)</th><th>Rows ({model})</th><th>Column types ({model}_schema)</th>
<th>Last validated</th></tr>
{rows}
</table></body></html>
"""


def _docs_path(urls: list[dict[str, Any]], project: GxProject) -> str | None:
    """The page path relative to the Data Docs folder (portable across machines and the UI)."""
    from urllib.parse import unquote, urlparse

    for site in urls:
        page = Path(unquote(urlparse(site["site_url"]).path))
        if page.is_relative_to(project.docs_dir):
            return str(page.relative_to(project.docs_dir))
    return None


def _clipped(value: Any) -> Any:
    return clip(value, VALUE_CHARS) if isinstance(value, str) else value


def _metric(config: Any, success: bool | None, result: dict[str, Any], exception: dict[str, Any]) -> Metric:
    kwargs = {k: v for k, v in config.kwargs.items() if k not in {"batch_id"}}
    observed = result.get("observed_value", result.get("unexpected_percent"))
    rule = (config.meta or {}).get("mlmonitor", {}).get("rule", "manual")
    details = cast(
        ValidationDetails, {"kwargs": kwargs, "rule": rule} | {k: result[k] for k in _RESULT_KEYS if k in result}
    )
    if "partial_unexpected_counts" in details:  # raw serving values: clipped, like unseen values
        details["partial_unexpected_counts"] = [
            {"value": _clipped(u.get("value")), "count": u.get("count", 0)}
            for u in details["partial_unexpected_counts"]
        ]
    if exception and exception.get("raised_exception"):
        details["error"] = str(exception.get("exception_message"))
    value = float(observed) if isinstance(observed, (int, float)) else None
    if value is None and observed is not None:
        details["observed_value"] = _clipped(json.loads(json.dumps(observed, default=str)))
    return Metric(
        check="validation",
        column=kwargs.get("column", ""),
        metric=config.type,
        value=value,
        status="ok" if success else "alert",
        threshold=kwargs.get("mostly"),
        details=details,
    )
