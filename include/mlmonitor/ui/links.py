"""URLs of the evidence for a run: its Data Docs page, the dashboard and the Airflow run.

The UI plugin serves these routes under `PLUGIN_PREFIX` of the Airflow API server; alerts and
extra links build them here so every producer agrees on the shape.
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import quote

PLUGIN_PREFIX = "/mlmonitor"
WINDOW_KEY = "%Y%m%dT%H%M"  # a window's start in URLs and anchors (UTC): 20240422T0000


def _base(base_url: str) -> str:
    return base_url.rstrip("/")


def dashboard_url(base_url: str, model: str | None = None) -> str:
    """The dashboard: every model, or one model's windows over time."""
    root = f"{_base(base_url)}{PLUGIN_PREFIX}/"
    return f"{root}models/{quote(model, safe='')}" if model else root


def window_key(start: dt.datetime) -> str:
    """A window's start as it appears in URLs (UTC minutes; windows never start within the same minute)."""
    return start.astimezone(dt.UTC).strftime(WINDOW_KEY) if start.tzinfo else start.strftime(WINDOW_KEY)


def parse_window_key(key: str) -> dt.datetime | None:
    """The naive-UTC window start of a `window_key`, or None when it is not one."""
    try:
        return dt.datetime.strptime(key, WINDOW_KEY)
    except ValueError:
        return None


def window_url(base_url: str, model: str, start: dt.datetime) -> str:
    """One window of a model on the dashboard: its findings, distributions, quality and evidence."""
    return f"{dashboard_url(base_url, model)}/windows/{window_key(start)}"


def window_docs_url(base_url: str, model: str, start: dt.datetime) -> str:
    """The window's Data Docs inside the dashboard: its failures first, then the Great Expectations page."""
    return f"{window_url(base_url, model, start)}/docs"


def run_docs_url(base_url: str, dag_id: str, run_id: str) -> str:
    """The Data Docs tab of an Airflow run (the dag_run external view)."""
    return f"{_base(base_url)}{PLUGIN_PREFIX}/runs/{quote(dag_id, safe='')}/{quote(run_id, safe='')}"


def docs_url(base_url: str, docs_path: str) -> str:
    """A Data Docs page; `docs_path` is relative to the Data Docs site (as stored in mlmonitor_runs)."""
    return f"{_base(base_url)}{PLUGIN_PREFIX}/docs/{quote(docs_path.lstrip('/'))}"


def docs_index_url(base_url: str) -> str:
    return f"{_base(base_url)}{PLUGIN_PREFIX}/docs/index.html"


def docs_base_url(base_url: str) -> str:
    """The Data Docs site root, without a trailing slash."""
    return f"{_base(base_url)}{PLUGIN_PREFIX}/docs"


def static_base_url(base_url: str) -> str:
    """Files the plugin ships (the dashboard's script and stylesheet), without a trailing slash."""
    return f"{_base(base_url)}{PLUGIN_PREFIX}/static"


def granted_base_url(base_url: str, grant: str) -> str:
    """Where a Data Docs grant serves the site (`/site/...`) and the vendored assets (`/vendor/...`)."""
    return f"{_base(base_url)}{PLUGIN_PREFIX}/d/{quote(grant, safe='')}"


def airflow_run_url(base_url: str, dag_id: str, run_id: str) -> str:
    """The Airflow 3 UI page of a DAG run."""
    return f"{_base(base_url)}/dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}"


def metrics_url(base_url: str) -> str:
    """The Prometheus text-format endpoint."""
    return f"{_base(base_url)}{PLUGIN_PREFIX}/metrics"
