"""Validate one window of serving logs with the model's suites through an ephemeral GE context.

The batch is the serving table itself; every expectation of the window suite carries a row condition
`window_start <= ts < window_end`, so GE computes each metric with a WHERE in the warehouse and no
window row reaches the worker (a query asset made GE fetch the whole window first). The suite files
are read under the model's lock and added to an in-memory store: GE never writes them back. Results
and Data Docs pages are files of the project (mlmonitor.gx_runtime).
"""

from __future__ import annotations

import datetime as dt
import html
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict, cast
from urllib.parse import quote

from sqlalchemy.engine import Engine

from mlmonitor.checks.base import CheckInfo
from mlmonitor.config import ModelConfig
from mlmonitor.dialect import for_great_expectations
from mlmonitor.errors import BaselineMissing
from mlmonitor.gx_runtime import SITE, ephemeral_context, great_expectations
from mlmonitor.limits import VALUE_CHARS, clip
from mlmonitor.metrics import Metric
from mlmonitor.names import derive_hint, schema_suite_name
from mlmonitor.project import GxProject
from mlmonitor.storage.files import model_lock, write_atomic
from mlmonitor.storage.suites import read_suites, suite_path
from mlmonitor.warehouse import ModelTables, bound
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


def window_condition(engine: Engine, model: ModelConfig, tables: ModelTables, window: Window) -> Any:
    """GE's row condition `start <= ts < end`.

    GE stores a condition's parameters as JSON and binds them as text: each bound is given as the text
    the column's own type binds (SQLite compares its stored text: '2024-03-01 00:00:00.000000'), else
    ISO text with a space, which PostgreSQL and MySQL read as a timestamp; naive UTC unless the
    column is timezone-aware, as mlmonitor's own window statistics filter."""
    from great_expectations.expectations.row_conditions import Column

    ts = tables.ts(model)
    process = ts.type.bind_processor(engine.dialect)

    def literal(instant: dt.datetime) -> str:
        value = bound(ts, instant)
        bound_value = process(value) if process else value
        return bound_value.isoformat(sep=" ") if isinstance(bound_value, dt.datetime) else str(bound_value)

    return (Column(ts.name) >= literal(window.start)) & (Column(ts.name) < literal(window.end))


def _suite_with(gx: Any, data: dict[str, Any], condition: Any) -> Any:
    """The stored suite as a GE object, every expectation that reads rows restricted by `condition`
    (None: as stored). Expectations on the table's metadata (`expect_column_to_exist`) take none."""
    from great_expectations.expectations.registry import get_expectation_impl

    expectations = [
        {**e, "kwargs": {**e["kwargs"], "row_condition": condition}}
        if condition is not None and "row_condition" in get_expectation_impl(e["type"]).__fields__
        else e
        for e in data["expectations"]
    ]
    return gx.ExpectationSuite(
        name=data["name"], id=data.get("id"), meta=data.get("meta"), notes=data.get("notes"), expectations=expectations
    )


def validate_window(
    project: GxProject,
    model: ModelConfig,
    engine: Engine,
    tables: ModelTables,
    window: Window,
    *,
    site_index: bool = True,
) -> ValidationOutcome:
    """Run the model's suites on the window; failures are results, not exceptions.

    The window suite runs on the window's rows (row condition), the schema suite on the serving table's
    column types (a catalogue lookup); both pages and the model's index are written to Data Docs, and
    GE's site index unless `site_index` is false (a backfill rebuilds it at its last window)."""
    gx = great_expectations()
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.resource_identifiers import ExpectationSuiteIdentifier

    path = suite_path(project.suites_dir, model.name)
    schema_suite = schema_suite_name(model.name)
    stored, schema_stored = read_suites(project.suites_dir, model.name)
    if stored is None:
        raise BaselineMissing(f"{model.name}: no expectation suite at {path}; {derive_hint(model.name)}")
    context = ephemeral_context(project)
    source = context.data_sources.add_sql(
        name=f"{model.name}_warehouse",
        connection_string=for_great_expectations(engine.url).render_as_string(hide_password=False),
    )
    batch = source.add_table_asset(
        name=f"{model.name}_serving", table_name=tables.serving.name, schema_name=tables.serving.schema
    ).add_batch_definition_whole_table("serving")
    suites = [(model.name, _suite_with(gx, stored, window_condition(engine, model, tables, window)))]
    if schema_stored is not None:  # types belong to the table, not the window: no row condition
        suites.append((schema_suite, _suite_with(gx, schema_stored, None)))
    definitions = [
        context.validation_definitions.add(gx.ValidationDefinition(name=name, data=batch, suite=context.suites.add(s)))
        for name, s in suites
    ]
    checkpoint = context.checkpoints.add(
        gx.Checkpoint(name=model.name, validation_definitions=definitions, result_format=result_format(model))
    )
    result = checkpoint.run(run_id=RunIdentifier(run_name=f"{model.name} {window.start:%Y-%m-%dT%H:%M}"))
    # GE's UpdateDataDocsAction builds the site once per validation, each time with the site index and
    # the suite pages: one build here, suite pages only when their suite changed, the index when asked
    stale = [ExpectationSuiteIdentifier(name=name) for name, _ in suites if _page_is_stale(project, name)]
    context.build_data_docs(
        site_names=[SITE], resource_identifiers=[*result.run_results, *stale], build_index=site_index
    )
    docs_path = None
    metrics: list[Metric] = []
    pages: list[tuple[str, str, bool]] = []
    for identifier, run in result.run_results.items():
        metrics += [_metric(r.expectation_config, r.success, r.result, r.exception_info) for r in run.results]
        page = _docs_path(context.get_docs_sites_urls(resource_identifier=identifier, site_names=[SITE]), project)
        if page is not None:
            pages.append((run.suite_name, page, bool(run.success)))
        if run.suite_name == model.name:
            docs_path = page
    record_validations(project, model.name, pages)
    return ValidationOutcome(bool(result.success), metrics, docs_path)


def refresh_site_index(project: GxProject, model: str) -> None:
    """Rebuild GE's site index (its newest validations) and the model's suite page: after a backfill,
    whose windows skip the index."""
    from great_expectations.data_context.types.resource_identifiers import ExpectationSuiteIdentifier

    ephemeral_context(project).build_data_docs(
        site_names=[SITE], resource_identifiers=[ExpectationSuiteIdentifier(name=model)], build_index=True
    )


def _page_is_stale(project: GxProject, suite: str) -> bool:
    """Whether the suite's Data Docs page is missing or older than the suite file."""
    page = project.docs_dir / "expectations" / f"{suite}.html"
    source = suite_path(project.suites_dir, suite)
    return not page.exists() or page.stat().st_mtime_ns < source.stat().st_mtime_ns


class IndexCell(TypedDict):
    """One suite's validations of one window in the model's index."""

    page: str  # the latest validation's page, relative to the Data Docs site
    success: bool | None
    validated: str  # GE's run time folder name of the latest validation
    count: int  # validations of the window with this suite


def record_validations(project: GxProject, model: str, pages: list[tuple[str, str, bool]]) -> Path:
    """Add this run's validation pages (suite, page, success) to the model's index rows and rewrite
    its page. The rows live in a small JSON file beside the site, so the page costs the same at the
    300th window as at the 1st (no stored result is re-read)."""
    with model_lock(project.suites_dir, model):
        rows, scanned = _index_rows(project, model)
        for suite, page, success in pages if not scanned else ():  # a scan found this run's pages
            parts = Path(page).parts  # validations/<suite>/<run name>/<run time>/<batch>.html
            cell = rows.setdefault(parts[-3], {}).get(suite)
            rows[parts[-3]][suite] = {
                "page": page,
                "success": success,
                "validated": parts[-2],
                "count": (cell["count"] if cell else 0) + 1,
            }
        write_atomic(project.model_index_path(model), json.dumps(rows, indent=1, sort_keys=True))
        return _write_index_page(project, model, rows)


def drop_missing_pages(project: GxProject, model: str, *, locked: bool = False) -> Path:
    """Drop from the model's index the validations whose pages are gone (retention removed them) and
    rewrite its page; kept rows only, no stored result is read. Takes the model's lock unless the
    caller holds it (`locked`: a second flock of it in the same process would wait for itself)."""
    if not locked:
        with model_lock(project.suites_dir, model):
            return drop_missing_pages(project, model, locked=True)
    rows, _ = _index_rows(project, model)
    kept: dict[str, dict[str, IndexCell]] = {}
    for run_name, cells in rows.items():
        present = {suite: c for suite, c in cells.items() if (project.docs_dir / c["page"]).exists()}
        if present:
            kept[run_name] = present
    write_atomic(project.model_index_path(model), json.dumps(kept, indent=1, sort_keys=True))
    return _write_index_page(project, model, kept)


def _index_rows(project: GxProject, model: str) -> tuple[dict[str, dict[str, IndexCell]], bool]:
    """The kept rows, or (when none are kept, or they are unreadable) the rows of a scan of the site,
    and whether they come from a scan."""
    stored = project.model_index_path(model)
    if stored.exists():
        try:
            return cast(dict[str, dict[str, IndexCell]], json.loads(stored.read_text(encoding="utf-8"))), False
        except ValueError:
            pass  # rebuilt from the pages below
    return _scan_pages(project, model), True


def _scan_pages(project: GxProject, model: str) -> dict[str, dict[str, IndexCell]]:
    """The index rows from the site's pages and stored results (once, for a site without rows)."""
    site = project.docs_dir
    rows: dict[str, dict[str, IndexCell]] = {}
    for suite in (model, schema_suite_name(model)):
        found: dict[str, list[Path]] = {}
        for page in (site / "validations" / suite).glob("*/*/*.html"):
            found.setdefault(page.parts[-3], []).append(page)
        for run_name, pages in found.items():
            latest = max(pages, key=lambda p: p.parts[-2])
            rel = latest.relative_to(site)
            rows.setdefault(run_name, {})[suite] = {
                "page": str(rel),
                "success": _stored_success(project, rel),
                "validated": latest.parts[-2],
                "count": len(pages),
            }
    return rows


def _write_index_page(project: GxProject, model: str, windows: dict[str, dict[str, IndexCell]]) -> Path:
    """A Data Docs page listing the model's validations by window, newest window first: one row per
    window with the outcome of its rows (suite `<model>`) and of the serving table's types (suite
    `<model>_schema`), each linking its latest validation; re-validations of a window are counted.

    GE's own index lists every suite of every model, each window twice and dated by validation time;
    this one is the page a model's users want.
    """
    rows = []
    for run_name in sorted(windows, key=_window_of_run, reverse=True):
        cells = []
        for suite in (model, schema_suite_name(model)):
            cell = windows[run_name].get(suite)
            if cell is None:
                cells.append('<td class="none">not validated</td>')
                continue
            label = {True: "passed", False: "FAILED", None: "unknown"}[cell["success"]]
            again = f' <span class="n">({cell["count"]} validations)</span>' if cell["count"] > 1 else ""
            cells.append(
                f'<td class="{label.lower()}"><a href="../{html.escape(quote(cell["page"]))}">{label}</a>{again}</td>'
            )
        validated = max(c["validated"] for c in windows[run_name].values())
        rows.append(
            f"<tr><td>{html.escape(_window_of_run(run_name).replace('T', ' '))}</td>{''.join(cells)}"
            f"<td>{html.escape(_validated_at(validated))}</td></tr>"
        )
    index = project.docs_dir / "mlmonitor" / f"{model}.html"
    write_atomic(
        index,
        _INDEX.format(model=html.escape(model), rows="\n".join(rows) or '<tr><td colspan="4">none yet</td></tr>'),
    )
    return index


def _window_of_run(run_name: str) -> str:
    """The window start in a validation's run name (`<model> <start>`, as `validate_window` names runs)."""
    return run_name.rpartition(" ")[2] or run_name


def _validated_at(run_time: str) -> str:
    """GE's run time folder name (20240421T101500.123456Z) as 2024-04-21 10:15 UTC."""
    match = re.match(r"(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})", run_time)
    return f"{'-'.join(match.groups()[:3])} {match.group(4)}:{match.group(5)} UTC" if match else run_time


def _stored_success(project: GxProject, rel: Path) -> bool | None:
    stored = project.gx_dir / "uncommitted" / rel.with_suffix(".json")
    success = json.loads(stored.read_text(encoding="utf-8")).get("success") if stored.exists() else None
    return success if isinstance(success, bool) else None


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
