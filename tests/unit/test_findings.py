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


def test_every_health_check_says_what_it_saw() -> None:
    rows = [
        row(
            "health",
            "model_version",
            "model_age_days",
            95.0,
            details={
                "trained_at": "2024-01-01T00:00:00",
                "source": "registry table r",
                "warn_days": 90,
                "alert_days": 180,
            },
        ),
        row("health", "model_version", "model_age_days:2.0", None, details={"problem": "version 2.0 has no row in r"}),
        row("health", "p", "nan_share", 0.02, "alert", threshold=0.0, details={"count": 20, "rows": 1000}),
        row(
            "health",
            "serve",
            "schema_changes",
            1.0,
            "alert",
            details={"change": "serving: added x", "compared_with": "baseline derivation"},
        ),
        row(
            "health",
            "age",
            "serving_schema",
            1.0,
            "alert",
            details={"problem": "age is missing", "effect": "not drift-checked"},
        ),
        row(
            "health", "age", "skew_mismatch_rate", 0.04, threshold=0.01, details={"joined": 900, "offline_table": "off"}
        ),
        row("health", "", "window_intervals", 45.0, threshold=31, details={"window_hours": 1080.0, "rule": "split it"}),
    ]
    found = {(f.topic, f.title): f.detail for f in window_findings(rows)}
    assert found == {
        (
            "staleness",
            "model age",
        ): "95 days (trained 2024-01-01, registry table r); warning from 90, alert from 180 days",
        ("staleness", "model 2.0 age"): "version 2.0 has no row in r",
        ("stability", "p: NaN predictions"): "2.00% (20 of 1000 rows) vs at most 0.00%",
        ("schema", "table serve changed"): "serving: added x (compared with baseline derivation)",
        ("schema", "age: serving schema"): "age is missing; not drift-checked",
        ("skew", "age: training/serving skew"): "4.00% of 900 joined rows differ from off (limit 1.00%)",
        ("window length", "window length"): "45 schedule intervals (1,080 h); warning above 31: split it",
    }


def test_an_empty_or_failed_run_says_so() -> None:
    (empty,) = window_findings([], run(0, "no_data"))
    assert (empty.title, empty.status) == ("no serving rows", "no_data") and "logging" in empty.detail
    (failed,) = window_findings([], run(0, "error", message="warehouse down"))
    assert (failed.title, failed.detail) == ("the monitoring run failed", "warehouse down")
