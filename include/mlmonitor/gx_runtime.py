"""Great Expectations as mlmonitor runs it: analytics off, and an ephemeral context per validation.

The context is defined in code, nothing of it in great_expectations.yml: the warehouse datasource
(its URL passed to GE directly, never through an environment variable), validation definitions and
checkpoints live in memory; validation results and the Data Docs site are written where a file
context writes them (`gx/uncommitted/...`), so the UI and GE's site keep working; the suites are
read from `gx/expectations/` for Data Docs only and never written by GE.
"""

from __future__ import annotations

import os
from types import ModuleType
from typing import Any

from mlmonitor.project import GxProject

ANALYTICS_ENV = "GX_ANALYTICS_ENABLED"
SITE = "local_site"
# GE's site index (index.html) lists this many of the newest validations of all models; it reads each
# one's stored result, so a bigger number costs every window more. Each model's own index
# (mlmonitor/<model>.html) lists all of its windows.
SITE_INDEX_VALIDATIONS = 10


def great_expectations() -> ModuleType:
    """`great_expectations`, imported with usage statistics off (GE reads the variable at import)."""
    os.environ[ANALYTICS_ENV] = "false"
    import great_expectations as gx

    return gx


def _files(project: GxProject, base: str) -> dict[str, Any]:
    return {"class_name": "TupleFilesystemStoreBackend", "root_directory": str(project.gx_dir), "base_directory": base}


def ephemeral_context(project: GxProject) -> Any:
    """A GE context whose results and Data Docs are files of `project`, everything else in memory.

    `expectations_store` (the suites a validation runs) is in memory: the window's copy of a suite
    carries the window's row condition and must never reach the suite file. Data Docs render suite
    pages from `mlmonitor_suites`, the suite files as derived."""
    gx = great_expectations()
    from great_expectations.data_context.types.base import DataContextConfig, ProgressBarsConfig

    memory = {"class_name": "InMemoryStoreBackend"}
    config = DataContextConfig(
        config_version=4,
        expectations_store_name="expectations_store",
        validation_results_store_name="validation_results_store",
        checkpoint_store_name="checkpoint_store",
        stores={
            "expectations_store": {"class_name": "ExpectationsStore", "store_backend": memory},
            "validation_results_store": {
                "class_name": "ValidationResultsStore",
                "store_backend": _files(project, "uncommitted/validations/"),
            },
            "checkpoint_store": {"class_name": "CheckpointStore", "store_backend": memory},
            "validation_definition_store": {"class_name": "ValidationDefinitionStore", "store_backend": memory},
            "mlmonitor_suites": {"class_name": "ExpectationsStore", "store_backend": _files(project, "expectations/")},
        },
        data_docs_sites={
            SITE: {
                "class_name": "SiteBuilder",
                "show_how_to_buttons": True,
                "store_backend": _files(project, "uncommitted/data_docs/local_site/"),
                "site_index_builder": {
                    "class_name": "DefaultSiteIndexBuilder",
                    "validation_results_limit": SITE_INDEX_VALIDATIONS,
                },
                "site_section_builders": {"expectations": {"source_store_name": "mlmonitor_suites"}},
            }
        },
        analytics_enabled=False,
        # GE draws tqdm bars on stderr, which Airflow logs at ERROR level: a worker's log is no place for them
        progress_bars=ProgressBarsConfig(globally=False, metric_calculations=False),
    )
    return gx.get_context(mode="ephemeral", project_config=config)
