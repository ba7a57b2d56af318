"""The typed results of a monitoring run: metric rows and the run summary."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Check = Literal["validation", "drift", "stats", "health", "performance"]
Status = Literal["ok", "warning", "alert", "no_data", "error"]
_RANK = {"ok": 0, "no_data": 1, "warning": 2, "alert": 3, "error": 4}


@dataclass(frozen=True)
class Metric:
    """One row of mlmonitor_metrics (without the model/window key)."""

    check: Check
    column: str
    metric: str
    value: float | None
    status: Status = "ok"
    threshold: float | None = None
    p_value: float | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Metric:
        return cls(**data)


def worst(statuses: list[Status]) -> Status:
    """The most severe status of a list (ok when empty)."""
    return max(statuses, key=_RANK.__getitem__, default="ok")


@dataclass(frozen=True)
class RunSummary:
    """One row of mlmonitor_runs."""

    model: str
    window_start: str
    window_end: str
    rows: int
    model_versions: dict[str, int]
    status: Status
    failed_expectations: int
    drifted_features: int
    docs_path: str | None = None
    airflow_run_id: str | None = None
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
