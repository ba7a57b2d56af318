"""The pure arithmetic of performance estimation (CBPE) on hand-made counts with hand-computed values."""

from __future__ import annotations

import math

import pytest

from mlmonitor.checks.estimation import bin_of, calibrated, expected_scores, isotonic


def test_isotonic_pools_violators_and_fills_empty_bins() -> None:
    # rates 0.1, 0.5, 0.3 (a violation: pooled to 0.4), empty, 0.9
    assert isotonic([10, 10, 10, 0, 10], [1, 5, 3, 0, 9]) == pytest.approx([0.1, 0.4, 0.4, 0.65, 0.9])
    assert isotonic([0, 4, 0], [0, 1, 0]) == [0.25, 0.25, 0.25]
    assert isotonic([0, 0], [0, 0]) == [0.0, 0.0]


def test_calibrated_is_linear_between_bin_centres_and_flat_beyond() -> None:
    curve = [0.0, 1.0]  # centres 0.25 and 0.75
    assert calibrated(0.5, curve) == pytest.approx(0.5)
    assert calibrated(0.1, curve) == 0.0 and calibrated(0.9, curve) == 1.0
    assert bin_of(1.0, 50) == 49 and bin_of(-0.1, 50) == 0 and bin_of(0.5, 50) == 25


def test_expected_scores_of_two_groups_by_hand() -> None:
    identity = [(i + 0.5) / 50 for i in range(50)]  # calibrated(s) == s
    # 10 predictions at 0.8 (positive) and 10 at 0.2 (negative): expected TP 8, FP 2, FN 2, TN 8
    scores, spread = expected_scores([(0.8, True, 10), (0.2, False, 10)], identity)
    for metric in ("accuracy", "precision", "recall", "f1"):
        assert scores[metric][0] == pytest.approx(0.8)
    assert scores["accuracy"][1] == pytest.approx(math.sqrt(0.8 * 0.2 / 20))
    # AUC: 8 positives at 0.8 outrank the 8 negatives at 0.2 and tie with the 2 negatives at 0.8, the 2
    # positives at 0.2 tie with the 8 negatives there: (8 * (8 + 1) + 2 * 4) / (10 * 10)
    assert scores["roc_auc"][0] == pytest.approx(0.8)
    # the realized accuracy is a sum of 20 Bernoulli(0.8) draws over 20
    assert spread["accuracy"] == pytest.approx(math.sqrt(20 * 0.16) / 20)
    assert expected_scores([], identity) == ({}, {})


def test_an_estimated_regression_reads_as_a_sentence() -> None:
    from mlmonitor.ui.findings import window_findings

    row = {
        "check_name": "performance",
        "column_name": "",
        "metric": "estimated_accuracy",
        "value": 0.52,
        "threshold": 0.675,
        "status": "alert",
        "details": {"baseline": 0.75, "standard_error": 0.025, "rows": 400, "method": "CBPE"},
    }
    (f,) = window_findings([row])
    assert (f.topic, f.status) == ("quality", "alert")
    assert f.detail == (
        "accuracy estimated at 0.52 (± 0.025) before the labels, vs limit 0.675 (baseline 0.75, from 400 predictions)"
    )
