"""The XCom payloads of the monitor, baseline and labels DAGs: small typed JSON, never rows of data."""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict, cast

from mlmonitor.metrics import Metric, RunSummary
from mlmonitor.pipeline import Pruned


class WindowPayload(TypedDict):
    start: str  # ISO 8601, UTC
    end: str


class MetricPayload(TypedDict):
    """`Metric.to_dict()`: one row of mlmonitor_metrics without the model/window key."""

    check: str
    column: str
    metric: str
    value: float | None
    status: str
    threshold: float | None
    p_value: float | None
    details: dict[str, Any]


class StatsPayload(TypedDict):
    """What `stats` found: the window, its volume and every window check's rows."""

    window: WindowPayload
    rows: int
    versions: dict[str, int]
    metrics: list[MetricPayload]
    adhoc: NotRequired[bool]  # a trigger-form window that is not a schedule interval


class ValidationPayload(TypedDict):
    """What `validate` found: one row per expectation, and the Data Docs page of the validation."""

    metrics: list[MetricPayload]
    docs_path: str | None
    success: bool | None


class SummaryPayload(TypedDict):
    """`RunSummary.to_dict()`: the run row `persist` wrote."""

    model: str
    window_start: str
    window_end: str
    rows: int
    model_versions: dict[str, int]
    status: str
    failed_expectations: int
    drifted_features: int
    docs_path: str | None
    airflow_run_id: str | None
    message: str
    adhoc: NotRequired[bool]


class RescoredWindow(TypedDict):
    start: str
    coverage: float | None
    alerts: int
    status: str | None  # the window's status after the re-score (None: the window was never monitored)
    previous_status: str | None


class RescorePayload(TypedDict):
    windows: list[RescoredWindow]
    alerts: list[str]  # one line per window whose quality regressed, with its dashboard entry


def metric_payloads(metrics: list[Metric]) -> list[MetricPayload]:
    return [cast(MetricPayload, m.to_dict()) for m in metrics]


def metrics_of(*payloads: list[MetricPayload]) -> list[Metric]:
    return [Metric.from_dict(m) for payload in payloads for m in payload]


def summary_payload(summary: RunSummary) -> SummaryPayload:
    return cast(SummaryPayload, summary.to_dict())


def summary_of(payload: SummaryPayload) -> RunSummary:
    return RunSummary(**payload)  # type: ignore[arg-type]


class RetentionPayload(TypedDict):
    """What the retention DAG removed: windows that started before `before` (None: retention is off)."""

    retention_days: int
    before: str | None
    models: list[Pruned]
    alerts: int  # alerts removed from the alerts file
