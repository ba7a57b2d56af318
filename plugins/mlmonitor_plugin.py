"""The mlmonitor Airflow plugin: dashboard, Data Docs and Prometheus metrics at /mlmonitor on the API
server, an "ML Monitoring" nav entry (the dashboard inside Airflow's shell), a "Data Docs" tab on DAG
runs (Airflow 3.3 shows it on every DAG; other DAGs get a short message) and the validate task's extra link.

Thin by design: routes live in mlmonitor_airflow.ui, rendering in the pure core (mlmonitor.dashboard).
"""

from __future__ import annotations

from typing import Any, ClassVar

from airflow.plugins_manager import AirflowPlugin

from mlmonitor.ui.links import PLUGIN_PREFIX
from mlmonitor_airflow.extra_links import DataDocsLink
from mlmonitor_airflow.ui import NAV_ROUTE, create_app

# hrefs are relative to Airflow's <base href>, so they follow an [api] base_url sub-path
_PLUGIN = PLUGIN_PREFIX.lstrip("/")


class MlmonitorPlugin(AirflowPlugin):
    name = "mlmonitor"
    fastapi_apps: ClassVar[list[Any]] = [{"app": create_app(), "url_prefix": PLUGIN_PREFIX, "name": "mlmonitor"}]
    external_views: ClassVar[list[Any]] = [
        # with a url_route the dashboard lives inside Airflow's shell (/plugin/mlmonitor/...); its script
        # follows Airflow's theme and opens links to Airflow pages in the shell
        {
            "name": "ML Monitoring",
            "href": f"{_PLUGIN}/",
            "destination": "nav",
            "category": "browse",
            "url_route": NAV_ROUTE,
        },
        {
            "name": "Data Docs",
            "href": _PLUGIN + "/runs/{DAG_ID}/{RUN_ID}",
            "destination": "dag_run",
            "url_route": "mlmonitor-run-data-docs",
        },
    ]
    operator_extra_links: ClassVar[list[Any]] = [DataDocsLink()]
