"""Names derived from a model's name (DAG ids, suites, the training Asset), spelled in one place."""

from __future__ import annotations

PREFIX = "mlmonitor_"


def monitor_dag_id(model: str) -> str:
    """The scheduled monitor DAG: one run per window."""
    return f"{PREFIX}{model}"


def baseline_dag_id(model: str) -> str:
    """The DAG that derives the suites and the drift baseline."""
    return f"{PREFIX}{model}_baseline"


def labels_dag_id(model: str) -> str:
    """The DAG that re-scores recent windows as labels arrive."""
    return f"{PREFIX}{model}_labels"


def model_of_monitor_dag(dag_id: str) -> str | None:
    """The model a monitor DAG id belongs to (None for any other DAG id); the caller checks that the
    model exists, since `mlmonitor_x_baseline` is also the monitor DAG id of a model `x_baseline`."""
    return dag_id.removeprefix(PREFIX) if dag_id.startswith(PREFIX) and len(dag_id) > len(PREFIX) else None


def schema_suite_name(model: str) -> str:
    """The GE suite validated on the serving table's column types."""
    return f"{model}_schema"


def training_asset_name(model: str) -> str:
    """The Airflow Asset a training pipeline updates to have the baseline re-derived."""
    return f"{PREFIX}{model}_training"


def derive_hint(model: str) -> str:
    """How to (re-)derive a model's suites and baseline, for error messages."""
    return f"derive it with `mlmonitor baseline {model}` or trigger the DAG {baseline_dag_id(model)}"
