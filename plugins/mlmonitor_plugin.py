"""The mlmonitor Airflow plugin: dashboard, Data Docs and Prometheus metrics at /mlmonitor on the API
server, an "ML Monitoring" nav entry, a "Data Docs" tab on DAG runs and the validate task's extra link.

Thin by design: routes live in mlmonitor_airflow.ui, rendering in the pure core (mlmonitor.dashboard).
"""

from __future__ import annotations

from typing import Any, ClassVar

from airflow.plugins_manager import AirflowPlugin

from mlmonitor.ui.links import PLUGIN_PREFIX
from mlmonitor_airflow.extra_links import DataDocsLink
from mlmonitor_airflow.ui import create_app


class MlmonitorPlugin(AirflowPlugin):
    name = "mlmonitor"
    fastapi_apps: ClassVar[list[Any]] = [{"app": create_app(), "url_prefix": PLUGIN_PREFIX, "name": "mlmonitor"}]
    external_views: ClassVar[list[Any]] = [
        # no url_route: the dashboard opens as its own page, so its links to Airflow runs open normally
        {"name": "ML Monitoring", "href": f"{PLUGIN_PREFIX}/", "destination": "nav", "category": "browse"},
        {
            "name": "Data Docs",
            "href": PLUGIN_PREFIX + "/runs/{DAG_ID}/{RUN_ID}",
            "destination": "dag_run",
            "url_route": "mlmonitor-run-data-docs",
        },
    ]
    operator_extra_links: ClassVar[list[Any]] = [DataDocsLink()]
