"""Why a window has its status: one finding per reason, with observed vs expected or what moved, and
since which window it holds (hand-made result rows; no Airflow, no database)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from mlmonitor.checks.drift import BinnedCounts
from mlmonitor.ui.findings import (
    Bound,
    binned_mean,
    binned_quantile,
    episodes,
    findings_by_window,
    moved,
    unhealthy_streak,
    window_findings,
)

D0 = dt.datetime(2024, 3, 1)


def day(i: int) -> dt.datetime:
    return D0 + dt.timedelta(days=i)


def row(check: str, column: str, metric: str, value: float | None, status: str = "warning", i: int = 0, **kw: Any):
    return {
        "window_start": day(i),
        "window_end": day(i + 1),
        "check_name": check,
        "column_name": column,
        "metric": metric,
        "value": value,
        "threshold": kw.pop("threshold", None),
        "p_value": kw.pop("p_value", None),
        "status": status,
        "details": json.dumps(kw.pop("details", {})),
    }


def run(i: int, status: str = "ok", **kw: Any) -> dict[str, Any]:
    return {"window_start": day(i), "window_end": day(i + 1), "status": status, "rows": 1000,
            "model_versions": json.dumps(kw.pop("versions", {"1.0.0": 1000})), **kw}  # fmt: skip


REGION: BinnedCounts = {
    "kind": "categorical",
    "edges": [],
    "bin_means": [],
    "categories": ["central", "east", "north", "south", "west"],
    "training": [200, 200, 200, 200, 200, 0],
    "window": [125, 125, 125, 500, 125, 0],
}
INCOME: BinnedCounts = {
    "kind": "numeric",
    "edges": [40_000.0, 50_000.0, 60_000.0],
    "bin_means": [35_000.0, 45_000.0, 55_000.0, 70_000.0],
    "categories": [],
    "training": [250, 250, 250, 250],
    "window": [0, 100, 300, 600],
}


def test_failed_expectation_says_what_was_observed_and_expected() -> None:
    (f,) = window_findings(
        [
            row(
                "validation",
                "credit_score",
                "expect_column_values_to_not_be_null",
                0.336,
                "alert",
                details={
                    "kwargs": {"column": "credit_score", "mostly": 0.991},
                    "element_count": 1287,
                    "unexpected_count": 432,
                    "unexpected_percent": 33.6,
                    "partial_unexpected_counts": [{"value": None, "count": 432}],
                },
            )
        ]
    )
    assert f.topic == "failed expectation" and f.status == "alert"
    assert f.title == "credit_score: must not be NULL"
    assert f.detail == "observed 33.6% failing (432 of 1,287 rows) · expected at most 0.9% failing"
    (s,) = window_findings(
        [
            row(
                "validation",
                "employment_type",
                "expect_column_values_to_be_in_set",
                14.0,
                "alert",
                details={
                    "kwargs": {"value_set": ["contractor", "salaried"]},
                    "unexpected_count": 180,
                    "element_count": 1287,
                    "unexpected_percent": 14.0,
                    "partial_unexpected_counts": [{"value": "gig_worker", "count": 180}],
                },
            )
        ]
    )
    assert "e.g. gig_worker" in s.detail and "expected one of contractor, salaried" in s.detail


def test_drift_says_what_moved_from_the_stored_counts() -> None:
    region = window_findings(
        [
            row("drift", "region", "linf", 0.3, threshold=0.05, details={"counts": REGION}),
            row("drift", "region", "null_rate_shift", 0.0, "ok", threshold=0.02),
        ]
    )
    assert [f.title for f in region] == ["region"]
    assert region[0].detail == (
        "largest change of one category's share 0.3 (threshold 0.05): south 20% → 50%; central 20% → 12%; "
        "east 20% → 12%"
    )
    income = window_findings([row("drift", "income", "wasserstein", 0.4, threshold=0.1, details={"counts": INCOME})])
    # window mean (100 x 45k + 300 x 55k + 600 x 70k) / 1000 = 63k; its p10 at the top of [40k, 50k), its p50 in
    # the open top bin; training's p90 and the window's are both in the top bin: not shown
    assert income[0].detail == (
        "distance moved (training std) 0.4 (threshold 0.1): mean ≈ 51.2k → 63.0k; p10 <40.0k → 50.0k; "
        "p50 50.0k → ≥60.0k"
    )
    nulls = window_findings(
        [
            row("drift", "credit_score", "wasserstein", 0.02, "ok", threshold=0.1),
            row(
                "drift",
                "credit_score",
                "null_rate_shift",
                0.336,
                threshold=0.02,
                details={"training_null_rate": 0.0, "window_null_rate": 0.336},
            ),
        ]
    )
    assert nulls[0].detail == "NULL share 0.0% → 33.6% (threshold ±0.02)"


def test_binned_mean_and_quantiles() -> None:
    assert binned_mean(INCOME["training"], INCOME["bin_means"]) == pytest.approx(51_250.0)
    assert binned_quantile([0, 10, 10, 0], [1.0, 2.0, 3.0], 0.25) == Bound(1.5)
    assert binned_quantile([5, 0, 0, 0], [1.0, 2.0, 3.0], 0.5) == Bound(1.0, "<")
    assert binned_quantile([0, 0, 0, 5], [1.0, 2.0, 3.0], 0.5) == Bound(3.0, "≥")
    assert moved({**INCOME, "window": [0, 0, 0, 0]}).mean == (pytest.approx(51_250.0), None)


def test_versions_latency_volume_quality_and_unknown_checks() -> None:
    rows = [
        row("health", "model_version", "share:1.0.0", 0.5, details={"unknown": False}),
        row("health", "model_version", "share:1.1.0", 0.5, details={"unknown": False}),
        row(
            "health",
            "latency_ms",
            "p95",
            215.6,
            threshold=105.6,
            details={"trailing_median_p95": 70.4, "trailing_windows": 7},
        ),
        row(
            "health",
            "",
            "rows",
            300.0,
            threshold=2400.0,
            details={"trailing_median_rows": 1200.0, "trailing_windows": 7},
        ),
        row("health", "status", "error_rate", 0.061, "alert", threshold=0.05, details={"errors": 31, "rows": 510}),
        row(
            "performance", "", "accuracy", 0.513, "alert", threshold=0.678, details={"baseline": 0.753, "labeled": 1170}
        ),
        row("my_check", "x", "weird", 3.0, threshold=1.0, details={"rule": "my rule"}),
    ]
    run_row = run(0, "alert", rescored_at=dt.datetime(2024, 3, 9, 6, 0), monitor_status="warning")
    found = {f.topic: f for f in window_findings(rows, run_row, previous_versions={"1.0.0": 900})}
    assert found["model versions"].detail == (
        "1.0.0 (50%) + 1.1.0 (50%) – mixed versions in one window; previous window served 1.0.0"
    )
    assert found["latency"].detail == "215.6 ms vs limit 105.6 ms (1.5 × the trailing median 70.4 of 7 healthy windows)"
    assert "300 rows vs the trailing median 1,200" in found["volume"].detail
    assert found["error rate"].detail == "6.10% (31 of 510 requests) vs limit 5.00%"
    assert found["quality"].detail.startswith("found by the labels DAG on 2024-03-09 06:00 UTC; accuracy 0.513")
    assert "baseline 0.753, 1170 labels" in found["quality"].detail
    assert found["my_check"].title == "weird of x" and found["my_check"].detail == "3 (threshold 1) – my rule"
    assert list(found)[:2] == ["quality", "error rate"]  # alerts first


def test_since_when_follows_each_reason_over_its_incident() -> None:
    runs = [run(i, "warning" if i >= 1 else "ok") for i in range(7)]
    metrics = [
        *(row("drift", "income", "wasserstein", 0.3, i=i, threshold=0.1) for i in range(1, 7)),
        *(row("drift", "region", "linf", 0.3, i=i, threshold=0.05) for i in (1, 5, 6)),  # gone for 3 windows
        *(row("drift", "age", "wasserstein", 0.3, i=i, threshold=0.1) for i in (2, 4)),  # gone for 1 window
    ]
    found = findings_by_window(runs, metrics)
    latest = {f.title: f for f in found[day(6)]}
    assert (latest["income"].since, latest["income"].windows) == (day(1), 6)
    assert (latest["region"].since, latest["region"].windows) == (day(5), 2)  # a new incident
    age = {f.title: f for f in found[day(4)]}["age"]
    assert (age.since, age.windows) == (day(2), 2)  # back within 2 windows: the same incident
    assert found[day(0)] == []
    runs = runs[:4]
    health = unhealthy_streak(runs)
    assert (health.since, health.windows, health.open_ended) == (day(1), 3, False)
    assert health.text() == "unhealthy since 2024-03-02 00:00 (3 windows)"  # of the first four windows
    assert unhealthy_streak([run(0, "alert")]).text() == "unhealthy since 2024-03-01 00:00 (at least 1 window)"
    assert unhealthy_streak([run(0)]).text() == "healthy"


def test_episodes_say_from_when_to_when_each_reason_held() -> None:
    runs = [run(i, "warning") for i in range(9)]
    metrics = [
        *(row("drift", "income", "wasserstein", 0.3, i=i, threshold=0.1) for i in (1, 2, 4, 7, 8)),  # on and off
        *(row("performance", "", "recall", 0.1, "alert", i=i, threshold=0.17) for i in (0, 4, 5)),
    ]
    found = [(e.finding.title, e.text()) for e in episodes(findings_by_window(runs, metrics))]
    assert found == [  # ongoing first, then the newest first; gaps of up to 2 windows are one incident
        ("income", "2024-03-02 → 2024-03-09 (5 windows, ongoing)"),
        ("prediction quality regressed", "2024-03-05 → 2024-03-06 (2 windows)"),
        ("prediction quality regressed", "2024-03-01 (1 window)"),
    ]
