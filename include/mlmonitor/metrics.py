"""The typed results of a monitoring run: metric rows and the run summary."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

# The built-in values of `Metric.check` (the `check_name` column): the family a row belongs to.
# A check of your own may use one of these (most do) or a family of its own.
FAMILIES = ("validation", "drift", "stats", "health", "performance", "anomaly")
Status = Literal["ok", "warning", "alert", "no_data", "error"]
STATUSES: tuple[Status, ...] = ("ok", "warning", "alert", "no_data", "error")
_RANK = {"ok": 0, "no_data": 1, "warning": 2, "alert": 3, "error": 4}


@dataclass(frozen=True, kw_only=True)
class Metric:
    """One row of mlmonitor_metrics (without the model/window key).

    `details` holds the check's own typed shape (a TypedDict declared beside the check, e.g.
    `checks.drift.DriftDetails`); renderers read it through that type, never by guessing keys.
    """

    check: str
    column: str
    metric: str
    value: float | None
    status: Status = "ok"
    threshold: float | None = None
    p_value: float | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Metric:
        return cls(**data)


def worst(statuses: Iterable[Status]) -> Status:
    """The most severe status of a list (ok when empty)."""
    return max(statuses, key=_RANK.__getitem__, default="ok")


def drifted_columns(metrics: Iterable[Metric]) -> list[str]:
    """Columns with at least one drifted signal in the window, sorted."""
    return sorted({m.column for m in metrics if m.check == "drift" and m.column and m.status != "ok"})


@dataclass(frozen=True, kw_only=True)
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
    adhoc: bool = False  # a trigger-form window that is not a schedule interval (kept out of history)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
