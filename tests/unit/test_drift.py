"""Drift metrics (hand-computed), Benjamini-Hochberg and the per-signal drift decision."""

from __future__ import annotations

import math

import pytest

from mlmonitor.checks.drift import assess
from mlmonitor.checks.drift_stats import (
    ColumnInput,
    Signal,
    benjamini_hochberg,
    chi2_pvalue,
    chi2_statistic,
    decide_signals,
    jensen_shannon,
    ks_binned,
    linf,
    mean_pvalue,
    mean_shift,
    null_rates,
    proportion_pvalue,
    psi,
    unseen_share,
    wasserstein,
    wasserstein_binned,
)
from mlmonitor.config import ColumnDriftConfig, DriftConfig
from mlmonitor.errors import ConfigError


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


def col(name: str, effect: float, p: float) -> Signal:
    return Signal(column=name, metric="wasserstein", effect=effect, threshold=0.1, p_value=p)


def test_effect_without_evidence_is_not_drift() -> None:
    # one signal: q = p = 0.05 >= fdr 0.01, although the effect 0.5 >= 0.1
    (d,) = decide_signals([col("a", 0.5, 0.05)], fdr=0.01)
    assert d.q_value == pytest.approx(0.05)
    assert d.drifted is False


def test_effect_and_evidence_is_drift() -> None:
    (d,) = decide_signals([col("a", 0.5, 1e-6)], fdr=0.01)
    assert d.drifted is True
    assert d.signal.column == "a"


def test_evidence_without_effect_is_not_drift() -> None:
    (d,) = decide_signals([col("a", 0.05, 1e-12)], fdr=0.01)
    assert d.drifted is False


def test_threshold_is_inclusive() -> None:
    (d,) = decide_signals([col("a", 0.1, 0.0)], fdr=0.01)
    assert d.drifted is True


def test_bh_adjustment_can_turn_a_raw_pass_into_no_drift() -> None:
    # raw p 0.006 < fdr 0.01, but with 2 signals: q = 0.006 * 2 / 1 = 0.012 >= 0.01
    a, b = decide_signals([col("a", 0.5, 0.006), col("b", 0.5, 0.5)], fdr=0.01)
    assert a.q_value == pytest.approx(0.012)
    assert a.drifted is False
    assert b.drifted is False


def test_decide_over_several_signals_keeps_input_order() -> None:
    # p: a 0.004, b 1e-9, c 0.2; m = 3; sorted b(1), a(2), c(3)
    # p*m/rank: b 3e-9, a 0.006, c 0.2 (already monotone)
    out = decide_signals([col("a", 0.5, 0.004), col("b", 0.05, 1e-9), col("c", 0.3, 0.2)], fdr=0.01)
    assert [d.signal.column for d in out] == ["a", "b", "c"]
    assert [d.q_value for d in out] == pytest.approx([0.006, 3e-9, 0.2])
    assert [d.drifted for d in out] == [True, False, False]


def test_jensen_shannon_by_hand() -> None:
    assert jensen_shannon([5, 5], [1, 1]) == 0.0
    assert jensen_shannon([1, 0], [0, 1]) == pytest.approx(1.0)  # disjoint: the maximum, in bits
    # r = [1, 0], c = [0.5, 0.5], mid m = [0.75, 0.25]
    # KL(r||m) = log2(1/0.75) = 0.4150375; KL(c||m) = 0.5 log2(0.5/0.75) + 0.5 log2(0.5/0.25) = 0.2075187
    # JSD = (0.4150375 + 0.2075187) / 2 = 0.3112781; distance = sqrt = 0.5579230
    assert jensen_shannon([10, 0], [5, 5]) == pytest.approx(math.sqrt(0.3112781), abs=1e-7)
    assert jensen_shannon([10, 0], [5, 5]) == pytest.approx(jensen_shannon([5, 5], [10, 0]))


def test_ks_binned_by_hand() -> None:
    # cumulative shares at the 2 interior edges: ref [0.25, 0.5], cur [0.5, 0.75] -> max gap 0.25
    assert ks_binned([1, 1, 2], [2, 1, 1]) == pytest.approx(0.25)
    assert ks_binned([1, 1, 2], [10, 10, 20]) == 0.0
    assert ks_binned([7], [3]) == 0.0  # one bin: no interior edge


def test_wasserstein_binned_by_hand() -> None:
    # atoms 0, 1, 3; cumulative shares ref [0.5, 0.75], cur [0.25, 0.5]
    # W1 = |0.5 - 0.25| * (1 - 0) + |0.75 - 0.5| * (3 - 1) = 0.25 + 0.5 = 0.75
    assert wasserstein_binned([2, 1, 1], [1, 1, 2], [0, 1, 3], 1.0) == pytest.approx(0.75)
    assert wasserstein_binned([2, 1, 1], [1, 1, 2], [0, 1, 3], 2.5) == pytest.approx(0.3)  # in units of std
    # all mass moves from atom 0 to atom 4: W1 = 4 (exact transport distance)
    assert wasserstein_binned([1, 0], [0, 1], [0, 4], 1.0) == pytest.approx(4.0)
    assert wasserstein_binned([1, 2], [2, 4], [0, 4], 1.0) == 0.0
    # a constant training column has no unit: the share of window values off its one value, so any change shows
    assert wasserstein_binned([0, 5, 0], [1, 8, 1], [7.0, 7.0, 7.0], 0.0) == pytest.approx(0.2)
    assert wasserstein_binned([0, 5, 0], [0, 9, 0], [7.0, 7.0, 7.0], 0.0) == 0.0
    with pytest.raises(ValueError, match="atoms"):
        wasserstein_binned([1, 2], [1, 2], [0.0], 1.0)


def test_wasserstein_binned_matches_scipy_on_atoms() -> None:
    from scipy.stats import wasserstein_distance

    atoms, ref, cur = [-2.0, -0.5, 0.3, 1.1, 4.0], [5, 20, 40, 25, 10], [1, 10, 30, 39, 20]
    expected = wasserstein_distance(atoms, atoms, ref, cur)
    assert wasserstein_binned(ref, cur, atoms, 1.0) == pytest.approx(expected, rel=1e-12)


def test_linf_by_hand() -> None:
    assert linf([1, 1], [1, 3]) == pytest.approx(0.25)  # 0.5 -> 0.25 and 0.5 -> 0.75
    assert linf([2, 2, 0], [2, 1, 1]) == pytest.approx(0.25)
    assert linf([3, 4], [30, 40]) == 0.0


def test_unseen_share() -> None:
    assert unseen_share(0, 100, 15, 100) == pytest.approx(0.15)  # training had no other bucket: exact
    assert unseen_share(10, 100, 30, 100) == pytest.approx(0.2)  # growth of the other share 0.1 -> 0.3
    assert unseen_share(10, 100, 5, 100) == 0.0
    assert unseen_share(0, 100, 0, 0) == 0.0


def test_chi2_statistic_by_hand() -> None:
    stat, dof = chi2_statistic([30, 10, 20], [20, 30, 40])
    assert stat == pytest.approx(100 / 20 + 36 / 16 + 16 / 24 + 100 / 30 + 36 / 24 + 16 / 36)
    assert dof == 2
    assert chi2_statistic([5, 0], [3, 0]) == (0.0, 0)


def test_proportion_pvalue_is_fishers_exact_test() -> None:
    # 10 vs 10 rows, 2 hits in all: P(a = 0, 1, 2) = 45/190, 100/190, 45/190; observed a = 0
    # two-sided p = P(a=0) + P(a=2) = 90/190
    assert proportion_pvalue(0, 10, 2, 10) == pytest.approx(90 / 190)
    # 20 vs 20 rows, 5 hits, all in the window: P = C(20,5)/C(40,5) = 15504/658008 per tail, two tails
    assert proportion_pvalue(0, 20, 5, 20) == pytest.approx(2 * 15504 / 658008)
    assert proportion_pvalue(0, 0, 5, 20) == 1.0


def numeric_input(current: list[int], current_nulls: int = 0) -> ColumnInput:
    return ColumnInput(
        column="x",
        kind="numeric",
        method="wasserstein",
        threshold=0.1,
        null_threshold=0.02,
        reference=[250, 250, 250, 250],
        reference_nulls=0,
        current=current,
        current_nulls=current_nulls,
        atoms=[-1.3, -0.3, 0.3, 1.3],
        scale=1.0,
    )


def test_assess_null_surge_is_its_own_signal() -> None:
    # the non-NULL values keep the training shape; 300 of 1300 rows are NULL (training: none)
    (r,) = assess([numeric_input([250, 250, 250, 250], current_nulls=300)], fdr=0.01)
    assert null_rates(r.input) == (0.0, pytest.approx(300 / 1300))
    assert r.distribution.drifted is False
    assert r.null_rate.drifted is True
    assert r.null_rate.signal.effect == pytest.approx(300 / 1300)
    assert r.drifted


def test_assess_shift_drifts_the_distribution_not_the_null_rate() -> None:
    (r,) = assess([numeric_input([100, 200, 300, 400])], fdr=0.01)
    # cumulative shares ref [0.25, 0.5, 0.75], cur [0.1, 0.3, 0.6]; gaps 0.15, 0.2, 0.15
    # W1 = 0.15 * 1.0 + 0.2 * 0.6 + 0.15 * 1.0 = 0.42
    assert r.distances["wasserstein"] == pytest.approx(0.42)
    assert set(r.distances) == {"psi", "js", "chi2", "ks", "wasserstein"}
    assert r.distribution.drifted is True
    assert r.null_rate.drifted is False


def test_assess_identical_counts_raise_nothing() -> None:
    (r,) = assess([numeric_input([25, 25, 25, 25])], fdr=0.01)
    assert not r.drifted
    assert r.distribution.signal.p_value == pytest.approx(1.0)


def test_assess_categorical_distances() -> None:
    c = ColumnInput(
        column="cat",
        kind="categorical",
        method="linf",
        threshold=0.05,
        null_threshold=0.02,
        reference=[60, 40, 0],
        reference_nulls=0,
        current=[40, 40, 20],
        current_nulls=0,
    )
    (r,) = assess([c], fdr=0.01)
    assert r.distances["linf"] == pytest.approx(0.2)  # a 0.6 -> 0.4 and other 0 -> 0.2
    assert r.distances["unseen_share"] == pytest.approx(0.2)
    assert set(r.distances) == {"psi", "js", "chi2", "linf", "unseen_share"}


def test_drift_rule_defaults_and_overrides() -> None:
    cfg = DriftConfig()
    assert cfg.rule("income", "numeric") == ("wasserstein", 0.1, 0.02)
    assert cfg.rule("region", "categorical") == ("linf", 0.05, 0.02)
    cfg = DriftConfig(
        numeric_threshold=0.2,
        columns={
            "income": ColumnDriftConfig(method="psi"),
            "age": ColumnDriftConfig(threshold=0.3, null_rate_threshold=0.1),
            "purpose": ColumnDriftConfig(enabled=False),
        },
    )
    assert cfg.rule("income", "numeric") == ("psi", 0.1, 0.02)  # its own method -> that method's default
    assert cfg.rule("age", "numeric") == ("wasserstein", 0.3, 0.1)
    assert cfg.rule("loan", "numeric") == ("wasserstein", 0.2, 0.02)
    assert cfg.rule("purpose", "categorical") is None
    # one threshold for every signal (the trigger-form override) replaces all the others
    assert DriftConfig(threshold=50.0, columns={"age": ColumnDriftConfig(threshold=0.3)}).rule("age", "numeric") == (
        "wasserstein",
        50.0,
        50.0,
    )


def test_drift_rule_rejects_a_method_of_the_wrong_kind() -> None:
    with pytest.raises(ConfigError, match=r"drift.columns.region.method.*linf, psi or js"):
        DriftConfig(columns={"region": ColumnDriftConfig(method="wasserstein")}).rule("region", "categorical")
    with pytest.raises(ConfigError, match=r"'linf' is for categorical"):
        DriftConfig(columns={"age": ColumnDriftConfig(method="linf")}).rule("age", "numeric")


def _plan(
    drift: dict[str, object], columns: list[str] | None = None, servable: list[str] | None = None
) -> dict[str, tuple[str, float, float]]:
    from pathlib import Path

    from mlmonitor.checks.drift import drift_plan
    from mlmonitor.config import parse_model
    from mlmonitor.storage.baselines import Baseline, CategoricalBaseline, Fingerprint, NumericBaseline

    data = {
        "name": "m",
        "training": {"table": "train"},
        "serving": {"table": "serve", "timestamp_column": "ts", "id_column": "id"},
        "prediction": {"column": "score", "task": "regression"},
        "start_date": "2024-03-01",
        "drift": drift,
    }
    nb = NumericBaseline(
        count=2, nulls=0, min=0, max=1, mean=0.5, std=0.5, quantiles={}, edges=[0.5], counts=[1, 1], bin_means=[0, 1]
    )
    cb = CategoricalBaseline(count=2, nulls=0, distinct=2, top={"a": 1, "b": 1}, other=0)
    baseline = Baseline(
        model="m",
        bins_version=2,
        training_table="train",
        fingerprint=Fingerprint(rows=2, max_timestamp=None, content_hash="x"),
        numeric={"age": nb, "income": nb},
        categorical={"region": cb},
        prediction=nb,
    )
    return drift_plan(parse_model(data, Path("m.yaml")), baseline, columns, servable)


def test_drift_plan_covers_features_and_prediction_with_their_rules() -> None:
    plan = _plan({"columns": {"region": {"enabled": False}, "score": {"method": "ks"}}})
    assert plan == {"age": ("wasserstein", 0.1, 0.02), "income": ("wasserstein", 0.1, 0.02), "score": ("ks", 0.1, 0.02)}
    # a feature subset keeps the prediction
    assert list(_plan({}, ["income"])) == ["income", "score"]
    # a feature missing or retyped in serving is left out (validation reports it)
    assert list(_plan({}, None, ["age", "region"])) == ["age", "region", "score"]


def test_drift_plan_names_unknown_override_columns() -> None:
    with pytest.raises(ConfigError, match=r"drift.columns names \['incme'\].*fix the column names"):
        _plan({"columns": {"incme": {"threshold": 0.2}}})


def test_a_shift_inside_the_bins_is_measured_at_its_true_size() -> None:
    """Every window value stays in its training bin, so the binned distance sees nothing; the exact
    means (0.0 -> 0.15, training std 1) put the Wasserstein distance at the true shift."""
    base = numeric_input([250, 250, 250, 250])
    assert wasserstein(base) == 0.0  # no exact means: the binned distance alone
    c = ColumnInput(**{**base.__dict__, "reference_mean": 0.0, "current_mean": 0.15})
    assert wasserstein_binned(c.reference, c.current, c.atoms, c.scale) == 0.0
    assert mean_shift(0.0, 0.15, 1.0) == pytest.approx(0.15)
    assert wasserstein(c) == pytest.approx(0.15)
    (r,) = assess([c], fdr=0.01)
    assert r.distances["wasserstein"] == pytest.approx(0.15)
    assert r.distances["mean_shift"] == pytest.approx(0.15)
    # the z-test of the mean is the evidence the counts cannot give: z = 0.15 / sqrt(2 / 1000) = 3.354
    z = 0.15 / math.sqrt(1 / 1000 + 1 / 1000)
    assert mean_pvalue(0.0, 1000, 0.15, 1000, 1.0) == pytest.approx(math.erfc(z / math.sqrt(2)))
    assert r.distribution.signal.p_value == pytest.approx(2 * math.erfc(z / math.sqrt(2)))  # Bonferroni of two
    assert r.distribution.drifted is True


def test_the_exact_mean_never_lowers_the_binned_distance() -> None:
    c = ColumnInput(**{**numeric_input([100, 200, 300, 400]).__dict__, "reference_mean": 0.0, "current_mean": 0.01})
    assert wasserstein(c) == pytest.approx(0.42)  # the binned W1 (hand-computed above) is the larger bound
    assert mean_pvalue(None, 10, 0.0, 10, 1.0) == 1.0
