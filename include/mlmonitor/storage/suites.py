"""Derive a Great Expectations suite from the training baseline: one small rule per column kind.

The suite is plain GE 1.x JSON (reviewable, diffable, byte-identical when re-derived from the
same data). Every derived expectation says in `meta.mlmonitor` which rule made it and from
which training statistic. Expectations without that mark (or marked `manual: true`) are a
reviewer's own and survive re-derivation.
"""

from __future__ import annotations

import json
import math
import uuid
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from pathlib import Path
from typing import Any

from mlmonitor.config import ModelConfig
from mlmonitor.errors import BaselineMissing
from mlmonitor.names import baseline_dag_id, schema_suite_name
from mlmonitor.storage.baselines import Baseline, CategoricalBaseline, NumericBaseline
from mlmonitor.storage.files import model_lock, write_atomic

Expectation = dict[str, Any]
_NS = uuid.UUID("6f1c7a52-52a7-4d0e-9c53-0d6b4f1e7d11")
# Every `mostly` derived from a training share is that share minus a sampling margin: MARGIN_SE
# standard errors of a binomial share at the window size the model expects (validation.window_rows),
# so a clean window of that size trips it about once in 30,000 expectations (and still less than
# once in 200 at 0.4 x that size). The variance floor of a 5 % share keeps a share of 0 or 1 (a
# null-free column) from failing on one stray row.
WINDOW_ROWS = 500
MARGIN_SE = 4
_VARIANCE_FLOOR = 0.0025
# the 0.1 %..99.9 % training quantiles bound at least this share of training rows
_RANGE_SHARE = 0.998


def _exp(kind: str, kwargs: dict[str, Any], rule: str, **why: Any) -> Expectation:
    # GE saves a suite without defaults (no `mostly: 1.0`, no null bounds): so do we, so that
    # GE re-saving the suite when it validates changes no byte.
    kwargs = {k: v for k, v in kwargs.items() if v is not None and not (k == "mostly" and v == 1.0)}
    return {"type": kind, "kwargs": kwargs, "meta": {"mlmonitor": {"rule": rule, **why}}, "severity": "critical"}


def sampling_margin(share: float, window_rows: int) -> float:
    """MARGIN_SE standard errors of a window's share of `window_rows` rows whose training value is `share`."""
    return MARGIN_SE * math.sqrt(max(share * (1 - share), _VARIANCE_FLOOR) / window_rows)


def _margined(share: float, window_rows: int, cap: float = 1.0) -> tuple[float, dict[str, Any]]:
    """`mostly` for a training share: the share minus its sampling margin (at most `cap`, at least 0),
    and the margin's figures for `meta.mlmonitor`."""
    margin = sampling_margin(share, window_rows)
    mostly = round(max(0.0, min(cap, share - margin)), 4)
    return mostly, {"training_share": round(share, 6), "sampling_margin": round(margin, 6), "window_rows": window_rows}


def schema_rule(columns: list[str]) -> list[Expectation]:
    """Every monitored serving column must exist (labels are not expected in serving logs, as in
    TFDV's serving environment)."""
    return [
        _exp("expect_column_to_exist", {"column": c}, "schema", statistic="column in training/serving config")
        for c in columns
    ]


def type_rule(types: dict[str, list[str] | None]) -> list[Expectation]:
    """Every column keeps its type family: an INTEGER may become a BIGINT, a number may not arrive
    as text. Types belong to the table, not the window: these run on the serving table itself."""
    return [
        _exp(
            "expect_column_values_to_be_in_type_list",
            {"column": c, "type_list": names},
            "schema_type",
            statistic="serving column type family at derivation",
        )
        for c, names in types.items()
        if names
    ]


def numeric_rule(
    name: str, b: NumericBaseline, mostly: float, margin: float, window_rows: int = WINDOW_ROWS
) -> list[Expectation]:
    """Range from the 0.1%..99.9% training quantiles widened by `margin` of their span; `mostly` is
    at most the configured one and at most the training share inside the quantiles (0.998) minus
    its sampling margin."""
    lo, hi = b.quantiles.get("0.001"), b.quantiles.get("0.999")
    if lo is None or hi is None:
        return []
    pad = margin * (hi - lo)
    share, figures = _margined(_RANGE_SHARE, window_rows, cap=mostly)
    return [
        _exp(
            "expect_column_values_to_be_between",
            {
                "column": name,
                "min_value": _bound(lo - pad, lo, up=False),
                "max_value": _bound(hi + pad, hi, up=True),
                "mostly": share,
            },
            "numeric_range",
            statistic="training quantiles q0.001/q0.999",
            q001=lo,
            q999=hi,
            margin=margin,
            **figures,
        )
    ]


def categorical_rule(
    name: str, b: CategoricalBaseline, mostly: float, window_rows: int = WINDOW_ROWS
) -> list[Expectation]:
    """Value set from training: the top-K when it covers every value (any unseen value fails); else
    every training value when the baseline holds them, with `mostly` the share of rows expected
    among them (1 - singletons / rows, Good-Turing) minus its sampling margin; else the top-K with
    `mostly` the covered training share minus its margin (always at most the configured `mostly`)."""
    present = b.count - b.nulls
    if not present:
        return []
    if b.values is not None:
        seen = 1 - b.singletons / present
        share, figures = (1.0, {}) if not b.singletons else _margined(seen, window_rows, cap=mostly)
        return [
            _exp(
                "expect_column_values_to_be_in_set",
                {"column": name, "value_set": sorted(b.values), "mostly": share},
                "categorical_set",
                statistic="training value set (every value; share of rows expected in it: 1 - singletons / rows)",
                distinct=b.distinct,
                singletons=b.singletons,
                **figures,
            )
        ]
    coverage = 1 - b.other / present
    share, figures = (1.0, {}) if b.other == 0 else _margined(coverage, window_rows, cap=mostly)
    return [
        _exp(
            "expect_column_values_to_be_in_set",
            {"column": name, "value_set": sorted(b.top), "mostly": share},
            "categorical_set",
            statistic="training value set (top-K)",
            distinct=b.distinct,
            coverage=round(coverage, 6),
            **figures,
        )
    ]


def null_rule(name: str, count: int, nulls: int, window_rows: int = WINDOW_ROWS) -> list[Expectation]:
    """Non-null share from the training non-null share minus its sampling margin."""
    p = nulls / count if count else 0.0
    if p >= 1:
        return []
    mostly, figures = _margined(1 - p, window_rows)
    return [
        _exp(
            "expect_column_values_to_not_be_null",
            {"column": name, "mostly": mostly},
            "nulls",
            statistic="training null rate",
            null_rate=round(p, 6),
            **figures,
        )
    ]


def prediction_rule(model: ModelConfig, b: NumericBaseline) -> list[Expectation]:
    """Probabilities in [0, 1] for classifiers; a widened training range for regressors."""
    col = model.prediction.column
    if model.prediction.task == "classification":
        return [
            _exp(
                "expect_column_values_to_be_between",
                {"column": col, "min_value": 0.0, "max_value": 1.0},
                "prediction_probability",
                statistic="probabilities lie in [0, 1]",
            )
        ]
    v = model.validation
    return numeric_rule(col, b, v.mostly, v.quantile_margin, v.window_rows)


def dataset_rules(model: ModelConfig) -> list[Expectation]:
    """Unique ids, allowed model versions and row-count bounds per window."""
    s, v = model.serving, model.validation
    out = [
        _exp(
            "expect_column_values_to_be_unique",
            {"column": s.id_column},
            "unique_ids",
            statistic="one row per prediction id",
        )
    ]
    if s.model_version_column and s.allowed_model_versions:
        out.append(
            _exp(
                "expect_column_values_to_be_in_set",
                {"column": s.model_version_column, "value_set": sorted(s.allowed_model_versions)},
                "model_versions",
                statistic="serving.allowed_model_versions",
            )
        )
    bounds: dict[str, Any] = {"min_value": v.min_rows, "max_value": v.max_rows}
    out.append(
        _exp("expect_table_row_count_to_be_between", bounds, "row_count", statistic="validation.min_rows/max_rows")
    )
    return out


def _round(x: float) -> float:
    return float(f"{x:.6g}")


def _bound(x: float, quantile: float, *, up: bool) -> float:
    """A range bound `x` at 6 significant digits (float noise removed), never inside the training
    quantile it widens: rounded down (`up` False) or up where the nearest rounding would cut it off (a
    constant column, no margin to round into: [3.14159, 3.14159] would fail every 3.14159265)."""
    out = _round(x)
    if (out < quantile) if up else (out > quantile):
        exact = Decimal(quantile)
        step = Decimal(1).scaleb(exact.adjusted() - 5) if quantile else Decimal(0)
        out = float(exact.quantize(step, rounding=ROUND_CEILING if up else ROUND_FLOOR)) if quantile else 0.0
        if (out < quantile) if up else (out > quantile):  # the decimal's nearest double fell inside
            out = math.nextafter(out, math.inf if up else -math.inf)
    return out


def monitored_columns(model: ModelConfig, baseline: Baseline) -> list[str]:
    """The serving columns a window is validated on, in a stable order."""
    return [
        model.serving.timestamp_column,
        model.serving.id_column,
        model.prediction.column,
        *baseline.numeric,
        *baseline.categorical,
    ]


def derive_expectations(model: ModelConfig, baseline: Baseline) -> list[Expectation]:
    """All derived expectations of a window, in a stable order."""
    v = model.validation
    out = schema_rule(monitored_columns(model, baseline))
    rows = v.window_rows
    for name, nb in baseline.numeric.items():
        out += null_rule(name, nb.count, nb.nulls, rows) + numeric_rule(name, nb, v.mostly, v.quantile_margin, rows)
    for name, cb in baseline.categorical.items():
        out += null_rule(name, cb.count, cb.nulls, rows) + categorical_rule(name, cb, v.mostly, rows)
    out += prediction_rule(model, baseline.prediction) + dataset_rules(model)
    return out


def is_manual(expectation: Expectation) -> bool:
    meta = expectation.get("meta") or {}
    return bool(meta.get("manual")) or "mlmonitor" not in meta


def build_suite(
    model: ModelConfig, baseline: Baseline, existing: dict[str, Any] | None, gx_version: str
) -> dict[str, Any]:
    """The window suite: derived expectations plus the manual ones of `existing`, with stable ids.

    It is written in exactly the form GE itself saves (sorted keys, GE version in meta), so GE
    re-saving it when a validation definition is registered changes no byte.
    """
    return _suite(model.name, model, baseline, derive_expectations(model, baseline), existing, gx_version)


def build_schema_suite(
    model: ModelConfig,
    baseline: Baseline,
    types: dict[str, list[str] | None],
    existing: dict[str, Any] | None,
    gx_version: str,
) -> dict[str, Any]:
    """The schema suite, validated on the whole serving table (GE reflects types only of tables)."""
    return _suite(schema_suite_name(model.name), model, baseline, type_rule(types), existing, gx_version)


def _suite(
    name: str,
    model: ModelConfig,
    baseline: Baseline,
    derived: list[Expectation],
    existing: dict[str, Any] | None,
    gx_version: str,
) -> dict[str, Any]:
    manual = [e for e in (existing or {}).get("expectations", []) if is_manual(e)]
    expectations = []
    for e in derived:
        key = json.dumps({"type": e["type"], "kwargs": e["kwargs"]}, sort_keys=True)
        expectations.append({**e, "id": str(uuid.uuid5(_NS, f"{name}:{key}"))})
    derived_from: dict[str, Any] = {
        "derived_from": baseline.training_table,
        "fingerprint": baseline.fingerprint.model_dump(),
    }
    notes = (
        "Derived by mlmonitor from the training data. Add expectations of your own with "
        'meta {"manual": true}; they are kept when the suite is re-derived.'
    )
    if baseline.warnings:  # shown with the suite in Data Docs
        derived_from["training_warnings"] = list(baseline.warnings)
        notes += " Training data: " + "; ".join(baseline.warnings) + "."
    return {
        "expectations": expectations + manual,
        "id": str(uuid.uuid5(_NS, name)),
        "meta": {"great_expectations_version": gx_version, "mlmonitor": derived_from},
        "name": name,
        "notes": notes,
    }


def suite_path(suites_dir: Path, model: str) -> Path:
    return suites_dir / f"{model}.json"


def write_suite(suite: dict[str, Any], path: Path) -> bool:
    """Write the suite as sorted, indented JSON in one step; return whether the file changed."""
    text = json.dumps(suite, indent=2, sort_keys=True)
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    write_atomic(path, text)
    return True


def read_suite(path: Path) -> dict[str, Any] | None:
    """The stored suite, or None when it has not been derived; a corrupt file says how to recover."""
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        data, problem = None, f"not valid JSON ({exc})"
    else:
        problem = "not a GE suite (no 'expectations' list)"
    if not isinstance(data, dict) or not isinstance(data.get("expectations"), list):
        raise BaselineMissing(
            f"{path.stem}: expectation suite {path} is {problem}; restore it from version control, or delete "
            f"it and re-derive with `mlmonitor baseline {path.stem}` (or trigger {baseline_dag_id(path.stem)}; "
            f"manual expectations in the deleted file are lost)"
        )
    return data


def read_suites(suites_dir: Path, model: str) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """The window suite and the schema suite of one derivation (read under the model's shared lock)."""
    with model_lock(suites_dir, model, shared=True):
        return read_suite(suite_path(suites_dir, model)), read_suite(suite_path(suites_dir, schema_suite_name(model)))
