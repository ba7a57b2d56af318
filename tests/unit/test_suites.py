"""The expectation suite derived from a hand-made baseline."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from mlmonitor.config import ModelConfig
from mlmonitor.storage.baselines import Baseline, CategoricalBaseline, Fingerprint, NumericBaseline
from mlmonitor.storage.suites import (
    build_suite,
    categorical_rule,
    derive_expectations,
    is_manual,
    null_rule,
    numeric_rule,
    read_suite,
    suite_path,
    write_suite,
)
from tests.factories import model_config

GX = "1.24.1"


def nb(count: int = 1000, nulls: int = 0, q001: float | None = 0.0, q999: float | None = 100.0) -> NumericBaseline:
    qs = {k: v for k, v in (("0.001", q001), ("0.5", 50.0), ("0.999", q999)) if v is not None}
    return NumericBaseline(
        count=count, nulls=nulls, min=0.0, max=100.0, mean=50.0, std=29.0, quantiles=qs, edges=[50.0], counts=[500, 500]
    )


def cb(count: int = 1000, nulls: int = 0, top: dict[str, int] | None = None, other: int = 0) -> CategoricalBaseline:
    top = top if top is not None else {"red": 600, "blue": 400}
    return CategoricalBaseline(count=count, nulls=nulls, distinct=len(top), top=top, other=other)


def baseline() -> Baseline:
    return Baseline(
        model="m",
        bins_version=1,
        training_table="train",
        fingerprint=Fingerprint(rows=1000, max_timestamp="2024-02-29 23:00:00", content_hash="abc123"),
        numeric={"x": nb(nulls=100)},
        categorical={"colour": cb()},
        prediction=nb(q001=0.01, q999=0.99),
    )


def model(**overrides: Any) -> ModelConfig:
    defaults: dict[str, Any] = {
        "training": {"table": "train"},
        "serving": {"table": "serve", "timestamp_column": "ts", "id_column": "id"},
        "prediction": {"column": "score", "task": "classification"},
    }
    return model_config(**{**defaults, **overrides})


def test_numeric_rule_widens_quantiles_by_margin() -> None:
    # span 100 - 0 = 100; pad 0.1 * 100 = 10 -> [-10, 110]
    # mostly = min(0.95, 0.998 - 4*sqrt(0.0025/500) = 0.98906) = 0.95: the configured one is lower
    (e,) = numeric_rule("x", nb(), mostly=0.95, margin=0.1)
    assert e["type"] == "expect_column_values_to_be_between"
    assert e["kwargs"] == {"column": "x", "min_value": -10.0, "max_value": 110.0, "mostly": 0.95}
    assert e["meta"]["mlmonitor"]["rule"] == "numeric_range"
    assert (e["meta"]["mlmonitor"]["q001"], e["meta"]["mlmonitor"]["q999"]) == (0.0, 100.0)
    assert e["severity"] == "critical"


def test_numeric_rule_mostly_keeps_a_sampling_margin() -> None:
    # at least 99.8 % of training lies within q0.001..q0.999; share 0.998 -> p(1-p) = 0.001996 is
    # under the 0.0025 floor: margin = 4*sqrt(0.0025/500) = 0.0089443 -> 0.998 - 0.0089443 = 0.98906
    (e,) = numeric_rule("x", nb(), mostly=0.99, margin=0.1)
    assert e["kwargs"]["mostly"] == 0.9891
    meta = e["meta"]["mlmonitor"]
    assert (meta["training_share"], meta["sampling_margin"], meta["window_rows"]) == (0.998, 0.008944, 500)
    # a model expecting windows of 100 rows: margin 4*sqrt(0.0025/100) = 0.02 -> 0.978
    (e,) = numeric_rule("x", nb(), mostly=0.99, margin=0.1, window_rows=100)
    assert e["kwargs"]["mostly"] == 0.978
    assert e["meta"]["mlmonitor"]["sampling_margin"] == 0.02


def test_numeric_rule_rounds_to_six_significant_digits() -> None:
    # q 0.1 .. 0.3, margin 0.1 -> pad 0.02 -> 0.08, 0.32 (float noise removed by the 6 g rounding)
    (e,) = numeric_rule("x", nb(q001=0.1, q999=0.3), mostly=1.0, margin=0.1)
    assert (e["kwargs"]["min_value"], e["kwargs"]["max_value"]) == (0.08, 0.32)


def test_numeric_rule_range_always_holds_the_training_quantiles() -> None:
    # a constant column: no span to pad, so the nearest 6-digit rounding (3.14159) would exclude every value
    for c in (3.14159265, -3.14159265, 2.718281828e10, 1.0000004e-7):
        (e,) = numeric_rule("x", nb(q001=c, q999=c), mostly=1.0, margin=0.1)
        lo, hi = e["kwargs"]["min_value"], e["kwargs"]["max_value"]
        assert lo <= c <= hi and lo < hi, (c, lo, hi)
    (e,) = numeric_rule("x", nb(q001=3.14159265, q999=3.14159265), mostly=1.0, margin=0.1)
    assert (e["kwargs"]["min_value"], e["kwargs"]["max_value"]) == (3.14159, 3.1416)


def test_numeric_rule_without_quantiles_is_empty() -> None:
    assert numeric_rule("x", nb(q001=None), mostly=0.99, margin=0.1) == []


def test_categorical_rule_full_coverage() -> None:
    (e,) = categorical_rule("colour", cb(top={"red": 6, "blue": 3, "green": 1}, count=12, nulls=2), mostly=0.99)
    assert e["kwargs"] == {
        "column": "colour",
        "value_set": ["blue", "green", "red"],
    }  # no mostly: any unseen value fails
    assert e["meta"]["mlmonitor"]["coverage"] == 1.0


def test_categorical_rule_partial_coverage_keeps_a_sampling_margin() -> None:
    # present = 12; other = 2 -> coverage 1 - 2/12 = 0.833333; p(1-p) = 0.138889
    # margin = 4*sqrt(0.138889/500) = 4*0.0166667 = 0.0666667 -> 0.833333 - 0.066667 = 0.766667
    (e,) = categorical_rule("c", cb(count=12, nulls=0, top={"a": 6, "b": 4}, other=2), mostly=0.99)
    assert e["kwargs"]["mostly"] == 0.7667
    meta = e["meta"]["mlmonitor"]
    assert meta["coverage"] == meta["training_share"] == 0.833333
    assert (meta["sampling_margin"], meta["window_rows"]) == (0.066667, 500)
    # present = 1000; other = 1 -> coverage 0.999, p(1-p) under the floor: 0.999 - 0.0089443 = 0.990056
    # -> min(0.99, 0.990056) = 0.99
    (e,) = categorical_rule("c", cb(count=1000, top={"a": 999}, other=1), mostly=0.99)
    assert e["kwargs"]["mostly"] == 0.99


def test_categorical_rule_margin_of_the_issue_column() -> None:
    # 200 values whose top 20 cover 61.25 % of training: mostly was 0.6125, so a clean window failed
    # whenever its covered share dipped below training's. At 1,000-row windows: p(1-p) = 0.237344,
    # margin = 4*sqrt(0.237344/1000) = 4*0.0154060 = 0.0616239 -> 0.6125 - 0.0616239 = 0.550876
    top = {f"v{i:03d}": 2450 for i in range(20)}  # 20 x 2450 = 49,000 of 80,000 = 0.6125
    (e,) = categorical_rule("c", cb(count=80_000, top=top, other=31_000), mostly=0.99, window_rows=1000)
    assert e["meta"]["mlmonitor"]["coverage"] == 0.6125
    assert e["kwargs"]["mostly"] == 0.5509
    assert e["meta"]["mlmonitor"]["sampling_margin"] == 0.061624


def test_categorical_rule_with_the_whole_value_set() -> None:
    # the top-2 misses 'c' and 'd'; the baseline holds every value: the set is all four, and with no
    # singleton in training every unseen value fails (no mostly)
    b = cb(count=1000, top={"a": 600, "b": 300}, other=100).model_copy(update={"values": ["a", "b", "c", "d"]})
    (e,) = categorical_rule("c", b, mostly=0.99)
    assert e["kwargs"] == {"column": "c", "value_set": ["a", "b", "c", "d"]}
    assert e["meta"]["mlmonitor"]["singletons"] == 0
    # 20 of the 1000 training rows hold a value seen once: a serving row holds an unseen value with
    # probability about 20/1000 (Good-Turing); share 0.98, p(1-p) = 0.0196
    # margin = 4*sqrt(0.0196/500) = 4*0.0062610 = 0.0250440 -> 0.98 - 0.025044 = 0.954956
    b = b.model_copy(update={"singletons": 20})
    (e,) = categorical_rule("c", b, mostly=0.99)
    assert e["kwargs"]["mostly"] == 0.955
    meta = e["meta"]["mlmonitor"]
    assert (meta["training_share"], meta["sampling_margin"], meta["window_rows"]) == (0.98, 0.025044, 500)
    # 2 singletons: share 0.998, under the variance floor: 0.998 - 0.0089443 = 0.98906
    (e,) = categorical_rule("c", b.model_copy(update={"singletons": 2}), mostly=0.99)
    assert e["kwargs"]["mostly"] == 0.9891


def test_categorical_rule_all_null_is_empty() -> None:
    assert categorical_rule("c", cb(count=5, nulls=5, top={}), mostly=0.99) == []


def test_null_rule_for_a_column_without_nulls() -> None:
    # p = 0 -> variance floored at 0.0025 -> tol = 4*sqrt(0.0025/500) = 4*0.0022360680 = 0.0089442719
    # mostly = round(1 - 0 - 0.0089442719, 4) = 0.9911
    tol = 4 * math.sqrt(0.0025 / 500)
    assert tol == pytest.approx(0.0089442719, abs=1e-10)
    (e,) = null_rule("x", 1000, 0)
    assert e["type"] == "expect_column_values_to_not_be_null"
    assert e["kwargs"] == {"column": "x", "mostly": round(1 - tol, 4)}
    assert e["kwargs"]["mostly"] == 0.9911
    assert e["meta"]["mlmonitor"]["sampling_margin"] == round(tol, 6) == 0.008944
    assert e["meta"]["mlmonitor"]["training_share"] == 1.0
    assert e["meta"]["mlmonitor"]["window_rows"] == 500


def test_null_rule_for_a_column_with_nulls() -> None:
    # p = 0.1 -> p(1-p) = 0.09 -> tol = 4*sqrt(0.09/500) = 4*0.0134164 = 0.0536656
    # mostly = round(1 - 0.1 - 0.0536656, 4) = round(0.8463344, 4) = 0.8463
    (e,) = null_rule("x", 1000, 100)
    assert e["kwargs"]["mostly"] == 0.8463
    assert e["meta"]["mlmonitor"]["null_rate"] == 0.1
    # at 10,000-row windows: tol = 4*sqrt(0.09/10000) = 0.012 -> 0.9 - 0.012 = 0.888
    (e,) = null_rule("x", 1000, 100, window_rows=10_000)
    assert e["kwargs"]["mostly"] == 0.888


def test_null_rule_edges() -> None:
    assert null_rule("x", 10, 10) == []  # all NULL in training: no rule
    (e,) = null_rule("x", 0, 0)  # empty table behaves as null rate 0
    assert e["kwargs"]["mostly"] == 0.9911
    # p = 0.99: tol = 4*sqrt(0.0099/500) = 0.0177989 -> 1 - 0.99 - 0.0178 < 0 -> clipped to 0
    (e,) = null_rule("x", 100, 99)
    assert e["kwargs"]["mostly"] == 0.0


def test_derive_expectations_order_and_content() -> None:
    exps = derive_expectations(model(), baseline())
    summary = [(e["type"], e["kwargs"].get("column")) for e in exps]
    assert summary == [
        ("expect_column_to_exist", "ts"),
        ("expect_column_to_exist", "id"),
        ("expect_column_to_exist", "score"),
        ("expect_column_to_exist", "x"),
        ("expect_column_to_exist", "colour"),
        ("expect_column_values_to_not_be_null", "x"),
        ("expect_column_values_to_be_between", "x"),
        ("expect_column_values_to_not_be_null", "colour"),
        ("expect_column_values_to_be_in_set", "colour"),
        ("expect_column_values_to_be_between", "score"),  # classifier: probabilities in [0, 1]
        ("expect_column_values_to_be_unique", "id"),
        ("expect_table_row_count_to_be_between", None),
    ]
    assert exps[9]["kwargs"] == {"column": "score", "min_value": 0.0, "max_value": 1.0}
    assert exps[-1]["kwargs"] == {"min_value": 1}  # GE drops null bounds; so do we


def test_regression_prediction_and_model_versions() -> None:
    m = model(
        prediction={"column": "score", "task": "regression"},
        serving={
            "table": "serve",
            "timestamp_column": "ts",
            "id_column": "id",
            "model_version_column": "v",
            "allowed_model_versions": ["2.0", "1.0"],
        },
    )
    exps = derive_expectations(m, baseline())
    by_rule = {e["meta"]["mlmonitor"]["rule"]: e for e in exps if e["kwargs"].get("column") in {"score", "v"}}
    # prediction q0.001 = 0.01, q0.999 = 0.99: span 0.98, pad 0.098 -> [-0.088, 1.088];
    # mostly = 0.998 - 4*sqrt(0.0025/500) = 0.98906 (under the configured 0.99)
    pred = [
        e for e in exps if e["kwargs"].get("column") == "score" and e["meta"]["mlmonitor"]["rule"] == "numeric_range"
    ]
    assert pred[0]["kwargs"] == {"column": "score", "min_value": -0.088, "max_value": 1.088, "mostly": 0.9891}
    assert by_rule["model_versions"]["kwargs"] == {"column": "v", "value_set": ["1.0", "2.0"]}


def test_is_manual() -> None:
    assert is_manual({"type": "t", "kwargs": {}})
    assert is_manual({"type": "t", "kwargs": {}, "meta": {"note": "mine"}})
    assert is_manual({"type": "t", "kwargs": {}, "meta": {"manual": True, "mlmonitor": {"rule": "x"}}})
    assert not is_manual({"type": "t", "kwargs": {}, "meta": {"mlmonitor": {"rule": "x"}}})


def test_build_suite_keeps_manual_and_drops_old_derived() -> None:
    manual = {
        "type": "expect_column_values_to_be_between",
        "kwargs": {"column": "x", "min_value": 0},
        "meta": {"manual": True},
        "id": "mine-1",
    }
    unmarked = {
        "type": "expect_column_values_to_match_regex",
        "kwargs": {"column": "colour", "regex": "^[a-z]+$"},
        "meta": {},
    }
    old = {
        "type": "expect_column_to_exist",
        "kwargs": {"column": "gone"},
        "meta": {"mlmonitor": {"rule": "schema"}},
        "id": "old-1",
    }
    suite = build_suite(model(), baseline(), {"expectations": [old, manual, unmarked]}, GX)
    exps = suite["expectations"]
    assert len(exps) == 12 + 2
    assert exps[-2:] == [manual, unmarked]  # kept unchanged, after the derived ones
    assert old not in exps
    assert all(e["kwargs"].get("column") != "gone" for e in exps)
    assert suite["name"] == "m"
    assert suite["meta"] == {
        "great_expectations_version": GX,
        "mlmonitor": {
            "derived_from": "train",
            "fingerprint": {"rows": 1000, "max_timestamp": "2024-02-29 23:00:00", "content_hash": "abc123"},
        },
    }
    derived_ids = [e["id"] for e in exps[:-2]]
    assert len(set(derived_ids)) == len(derived_ids)


def test_build_suite_is_deterministic() -> None:
    a = build_suite(model(), baseline(), None, GX)
    b = build_suite(model(), baseline(), {"expectations": []}, GX)
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    # ids are uuid5 of model name + type + kwargs: independent of the GE version in meta ...
    c = build_suite(model(), baseline(), None, "0.0.0")
    assert c["id"] == a["id"]
    assert [e["id"] for e in c["expectations"]] == [e["id"] for e in a["expectations"]]
    # ... but not of the model name
    d = build_suite(model(name="n"), baseline(), None, GX)
    assert d["id"] != a["id"]
    assert not {e["id"] for e in d["expectations"]} & {e["id"] for e in a["expectations"]}


def test_write_suite_reports_changes_and_keeps_bytes(tmp_path: Path) -> None:
    path = suite_path(tmp_path / "suites", "m")
    assert path == tmp_path / "suites" / "m.json"
    suite = build_suite(model(), baseline(), None, GX)
    assert write_suite(suite, path) is True
    before = path.read_bytes()
    assert write_suite(build_suite(model(), baseline(), read_suite(path), GX), path) is False
    assert path.read_bytes() == before
    assert json.loads(before) == suite
    assert before == json.dumps(suite, indent=2, sort_keys=True).encode()

    changed = build_suite(model(validation={"mostly": 0.9}), baseline(), read_suite(path), GX)
    assert write_suite(changed, path) is True
    assert path.read_bytes() != before
    assert read_suite(path) == changed


def test_read_suite_missing_file(tmp_path: Path) -> None:
    assert read_suite(tmp_path / "none.json") is None
