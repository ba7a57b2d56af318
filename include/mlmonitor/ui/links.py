"""URLs of the evidence for a run: its Data Docs page, the dashboard and the Airflow run.

The UI plugin serves these routes under `PLUGIN_PREFIX` of the Airflow API server; alerts and
extra links build them here so every producer agrees on the shape.
"""

from __future__ import annotations

from urllib.parse import quote

PLUGIN_PREFIX = "/mlmonitor"


def _base(base_url: str) -> str:
    return base_url.rstrip("/")


def dashboard_url(base_url: str, model: str | None = None) -> str:
    """The dashboard: every model, or one model's windows over time."""
    root = f"{_base(base_url)}{PLUGIN_PREFIX}/"
    return f"{root}models/{quote(model, safe='')}" if model else root


def docs_url(base_url: str, docs_path: str) -> str:
    """A Data Docs page; `docs_path` is relative to the Data Docs site (as stored in mlmonitor_runs)."""
    return f"{_base(base_url)}{PLUGIN_PREFIX}/docs/{quote(docs_path.lstrip('/'))}"


def docs_index_url(base_url: str) -> str:
    return f"{_base(base_url)}{PLUGIN_PREFIX}/docs/index.html"


def docs_base_url(base_url: str) -> str:
    """The Data Docs site root, without a trailing slash."""
    return f"{_base(base_url)}{PLUGIN_PREFIX}/docs"


def static_base_url(base_url: str) -> str:
    """Files the plugin ships (the vendored Data Docs assets under vendor/), without a trailing slash."""
    return f"{_base(base_url)}{PLUGIN_PREFIX}/static"


def airflow_run_url(base_url: str, dag_id: str, run_id: str) -> str:
    """The Airflow 3 UI page of a DAG run."""
    return f"{_base(base_url)}/dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}"


def metrics_url(base_url: str) -> str:
    """The Prometheus text-format endpoint."""
    return f"{_base(base_url)}{PLUGIN_PREFIX}/metrics"
