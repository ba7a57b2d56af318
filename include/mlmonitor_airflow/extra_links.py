"""The "Data Docs" extra link of the `validate` task of every monitor DAG.

Airflow 3 computes operator links on the worker when the task finishes and stores the URL in XCom
(key `_link_DataDocsLink`); the UI reads it from there. The link points at the Data Docs page the
task returned (`docs_path` in its return value), served by the plugin under [api] base_url.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseOperatorLink

from mlmonitor.ui.links import docs_url


def ui_base_url() -> str:
    from airflow.configuration import conf

    return conf.get("api", "base_url", fallback="") or ""


def link_for(result: Any, base_url: str) -> str:
    """The Data Docs URL of a validate task's return value ('' when it has no page, e.g. an empty window)."""
    path = result.get("docs_path") if isinstance(result, dict) else None
    return docs_url(base_url, path) if path else ""


class DataDocsLink(BaseOperatorLink):
    """Opens the Great Expectations Data Docs page of this run's validation."""

    name = "Data Docs"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        from airflow.sdk.execution_time.xcom import XCom

        result = XCom.get_value(ti_key=ti_key, key="return_value")
        return link_for(result, ui_base_url())
