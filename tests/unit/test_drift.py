"""PSI, chi-squared, Benjamini-Hochberg and the per-column drift decision."""

from __future__ import annotations

import math

import pytest

from mlmonitor.drift import ColumnDrift, benjamini_hochberg, chi2_pvalue, decide, psi


def test_psi_two_bins_by_hand() -> None:
    # shares: reference [0.5, 0.5], current [0.25, 0.75]
    # (0.25-0.5)ln(0.25/0.5) + (0.75-0.5)ln(0.75/0.5) = 0.25 ln 2 + 0.25 ln 1.5 = 0.25 ln 3 = 0.274653...
    expected = (0.25 - 0.5) * math.log(0.25 / 0.5) + (0.75 - 0.5) * math.log(0.75 / 0.5)
    assert expected == pytest.approx(0.25 * math.log(3))
    assert psi([50, 50], [25, 75]) == pytest.approx(expected, rel=1e-12)
    assert psi([50, 50], [25, 75]) == pytest.approx(0.2746530722, abs=1e-9)


def test_psi_uses_shares_not_counts() -> None:
    # same shares at 10x the counts -> same PSI
    assert psi([500, 500], [2500, 7500]) == pytest.approx(psi([50, 50], [25, 75]), rel=1e-12)


def test_psi_is_symmetric() -> None:
    assert psi([50, 50], [25, 75]) == pytest.approx(psi([25, 75], [50, 50]), rel=1e-12)


def test_psi_of_identical_distributions_is_zero() -> None:
    assert psi([10, 20, 30, 40], [10, 20, 30, 40]) == 0.0
    assert psi([1, 2, 3], [100, 200, 300]) == pytest.approx(0.0, abs=1e-15)
    # a bin empty on both sides: both shares floored to eps, term (eps-eps)*ln(1) = 0
    assert psi([10, 0], [5, 0]) == 0.0


def test_psi_floors_an_empty_bin_at_eps() -> None:
    # reference shares [1, 0] -> floored [1, 1e-4]; current [0.5, 0.5]
    # (0.5-1)ln(0.5/1) + (0.5-1e-4)ln(0.5/1e-4) = 0.5 ln 2 + 0.4999 ln 5000 = 0.346574 + 4.257745 = 4.604319
    expected = 0.5 * math.log(2) + 0.4999 * math.log(5000)
    assert psi([100, 0], [50, 50]) == pytest.approx(expected, rel=1e-12)
    assert psi([100, 0], [50, 50]) == pytest.approx(4.604319, abs=1e-6)
    # a custom eps: (0.5-0.01)ln(0.5/0.01) + 0.5 ln 2
    assert psi([100, 0], [50, 50], eps=0.01) == pytest.approx(0.49 * math.log(50) + 0.5 * math.log(2), rel=1e-12)


def test_psi_requires_equal_lengths() -> None:
    with pytest.raises(ValueError):
        psi([1, 2], [1, 2, 3])


def test_benjamini_hochberg_by_hand() -> None:
    # m = 4; sorted p: 0.01 (rank 1), 0.03 (rank 2), 0.04 (rank 3), 0.20 (rank 4)
    # p*m/rank: 0.04, 0.06, 0.053333, 0.20
    # running minimum from the largest rank down: 0.20, 0.053333, min(0.053333, 0.06)=0.053333, 0.04
    # back in input order [0.01, 0.04, 0.03, 0.20] -> [0.04, 0.053333, 0.053333, 0.20]
    q = benjamini_hochberg([0.01, 0.04, 0.03, 0.20])
    assert q == pytest.approx([0.04, 0.04 * 4 / 3, 0.04 * 4 / 3, 0.20], rel=1e-12)


def test_benjamini_hochberg_caps_at_one_and_handles_edges() -> None:
    # 0.6*2/1 = 1.2 and 0.9*2/2 = 0.9 -> running min 0.9 for both
    assert benjamini_hochberg([0.6, 0.9]) == pytest.approx([0.9, 0.9])
    # 0.8*2/2=0.8 at rank 2; 0.7*2/1 = 1.4 -> min(0.8, 1.4) = 0.8
    assert benjamini_hochberg([0.8, 0.7]) == pytest.approx([0.8, 0.8])
    assert benjamini_hochberg([0.9]) == [0.9]
    assert benjamini_hochberg([]) == []
    assert all(q <= 1.0 for q in benjamini_hochberg([0.99, 0.98, 0.97]))


def test_chi2_equal_vectors_give_p_one() -> None:
    assert chi2_pvalue([100, 200, 300], [100, 200, 300]) == pytest.approx(1.0)
    # proportional vectors: the statistic is 0 too
    assert chi2_pvalue([100, 200, 300], [10, 20, 30]) == pytest.approx(1.0)


def test_chi2_strongly_different_vectors() -> None:
    assert chi2_pvalue([900, 100], [100, 900]) < 1e-6
    assert chi2_pvalue([500, 500, 0], [0, 500, 500]) < 1e-6


def test_chi2_matches_hand_computed_statistic() -> None:
    # table [[30, 10, 20], [20, 30, 40]]: row totals 60, 90; column totals 50, 40, 60; n 150
    # expected = row*col/n: [[20, 16, 24], [30, 24, 36]]
    # chi2 = 100/20 + 36/16 + 16/24 + 100/30 + 36/24 + 16/36 = 13.1944...; dof 2 -> p = exp(-chi2/2)
    stat = 100 / 20 + 36 / 16 + 16 / 24 + 100 / 30 + 36 / 24 + 16 / 36
    assert chi2_pvalue([30, 10, 20], [20, 30, 40]) == pytest.approx(math.exp(-stat / 2), rel=1e-9)


def test_chi2_degenerate_inputs_return_one() -> None:
    assert chi2_pvalue([10, 0, 0], [5, 0, 0]) == 1.0  # one non-empty bin
    assert chi2_pvalue([10, 20], [0, 0]) == 1.0  # empty window
    assert chi2_pvalue([0, 0], [0, 0]) == 1.0
    # bins empty on both sides are dropped, the rest is a normal test: same as the 3-bin case
    assert chi2_pvalue([900, 0, 100], [100, 0, 900]) == pytest.approx(chi2_pvalue([900, 100], [100, 900]))


def col(name: str, psi_value: float, p: float) -> ColumnDrift:
    return ColumnDrift(name, "numeric", psi_value, p, 1000, 100)


def test_effect_without_evidence_is_not_drift() -> None:
    # one column: q = p = 0.05 >= fdr 0.01, although PSI 0.5 >= 0.1
    (d,) = decide([col("a", 0.5, 0.05)], threshold=0.1, fdr=0.01)
    assert d.q_value == pytest.approx(0.05)
    assert d.drifted is False


def test_effect_and_evidence_is_drift() -> None:
    (d,) = decide([col("a", 0.5, 1e-6)], threshold=0.1, fdr=0.01)
    assert d.drifted is True
    assert d.drift.column == "a"


def test_evidence_without_effect_is_not_drift() -> None:
    (d,) = decide([col("a", 0.05, 1e-12)], threshold=0.1, fdr=0.01)
    assert d.drifted is False


def test_threshold_is_inclusive() -> None:
    (d,) = decide([col("a", 0.1, 0.0)], threshold=0.1, fdr=0.01)
    assert d.drifted is True


def test_bh_adjustment_can_turn_a_raw_pass_into_no_drift() -> None:
    # raw p 0.006 < fdr 0.01, but with 2 columns: q = 0.006 * 2 / 1 = 0.012 >= 0.01
    a, b = decide([col("a", 0.5, 0.006), col("b", 0.5, 0.5)], threshold=0.1, fdr=0.01)
    assert a.q_value == pytest.approx(0.012)
    assert a.drifted is False
    assert b.drifted is False


def test_decide_over_several_columns_keeps_input_order() -> None:
    # p: a 0.004, b 1e-9, c 0.2; m = 3; sorted b(1), a(2), c(3)
    # p*m/rank: b 3e-9, a 0.006, c 0.2 (already monotone)
    out = decide([col("a", 0.5, 0.004), col("b", 0.05, 1e-9), col("c", 0.3, 0.2)], threshold=0.1, fdr=0.01)
    assert [d.drift.column for d in out] == ["a", "b", "c"]
    assert [d.q_value for d in out] == pytest.approx([0.006, 3e-9, 0.2])
    assert [d.drifted for d in out] == [True, False, False]
