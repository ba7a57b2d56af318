"""Why a window has its status, in plain words: one `Finding` per reason, read from the typed details
of the window's metric rows, and since which window each reason holds.

Every status the dashboard shows comes with its findings: failed expectations with observed vs
expected, drifted columns with what moved (category shares or binned mean and quantiles, from the
counts stored with the window), version changes, latency, volume, error rate, staleness, stability,
schema changes, skew, quality and anything a check of your own flags. Pure functions over rows of
`mlmonitor_runs` / `mlmonitor_metrics`; no database, no Airflow.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, cast

from mlmonitor.checks.anomalies import FAMILY as ANOMALY
from mlmonitor.checks.anomalies import QUALITY_PREFIX, AnomalyDetails, seasonality_text
from mlmonitor.checks.drift import DRIFTED_SHARE, NULL_RATE_METRIC, BinnedCounts, DriftDetails
from mlmonitor.checks.drift_methods import drift_methods
from mlmonitor.checks.health import (
    AgeDetails,
    OperationsDetails,
    StabilityDetails,
    VersionChangeDetails,
    WindowLengthDetails,
)
from mlmonitor.checks.performance import QualityDetails
from mlmonitor.checks.prediction import MeanDetails
from mlmonitor.checks.schema import SchemaDetails, ServingSchemaDetails
from mlmonitor.checks.skew import SkewDetails
from mlmonitor.checks.validation import ValidationDetails
from mlmonitor.metrics import Status, worst

Row = Mapping[str, Any]
UNHEALTHY = frozenset({"warning", "alert", "no_data", "error"})


@dataclass(frozen=True, kw_only=True)
class Finding:
    """One reason for a window's status.

    Attributes:
        key: the identity of the reason across windows (what "since" follows), e.g. `drift(income)`.
        topic: a short tag: failed expectation, drift, prediction, model versions, latency, volume,
            error rate, staleness, stability, schema, skew, quality, window length, or the check's name.
        status: the worst status of the rows behind it.
        title: what it is about, e.g. the column and the expectation in words.
        detail: observed vs expected, or what moved.
        column: the column it concerns ('' for the window).
        since: start of the first window of the streak of windows with this reason (this one included).
        windows: the length of that streak.
        open_ended: the streak reaches the oldest window read, so it may be longer.
        muted: set when a mute or acknowledgement silences its alerts in this window.
    """

    key: str
    topic: str
    status: Status
    title: str
    detail: str
    column: str = ""
    since: dt.datetime | None = None
    windows: int = 1
    open_ended: bool = False
    muted: str = ""  # who silenced its alerts, until when and why (storage.mutes); "" when not muted


def details_of(row: Row) -> dict[str, Any]:
    """A metric row's details (stored as JSON text), {} when unreadable."""
    raw = row.get("details")
    if isinstance(raw, dict):
        return raw
    if not raw or raw == "{}":
        return {}
    try:
        data = json.loads(raw or "{}")
    except (TypeError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def num(value: Any) -> float | None:
    """A finite float, or None."""
    if value is None or isinstance(value, bool):
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def fmt(value: Any, digits: int = 3) -> str:
    """A number for people: 0.0412, 52.1k, 1,287; text as is; n/a for missing."""
    v = num(value)
    if v is None:
        return "n/a" if value is None else str(value)
    a = abs(v)
    if a >= 100_000:
        return f"{v / 1000:,.0f}k"
    if a >= 10_000:
        return f"{v / 1000:.1f}k"
    if a >= 100:
        return f"{v:,.0f}" if v == round(v) else f"{v:,.1f}"
    if v == round(v) and a >= 1:
        return f"{v:.0f}"
    return f"{v:.{digits}g}"


def pct(share: Any, digits: int = 1) -> str:
    v = num(share)
    return "n/a" if v is None else f"{100 * v:.{digits}f}%"


def _cut(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def unit_of(column: str) -> str:
    """The unit a column name announces (latency_ms -> ms), or ''."""
    for suffix, unit in (("_ms", "ms"), ("_seconds", "s"), ("_us", "µs"), ("_s", "s")):
        if column.endswith(suffix):
            return unit
    return ""


def _label(row: Row) -> str:
    return f"{row['check_name']}:{row['metric']}({row.get('column_name') or ''})"


# ---------------------------------------------------------------- what moved inside a drifted column


@dataclass(frozen=True)
class Bound:
    """A value estimated from bins: exact-ish inside the training range, a bound in an open tail."""

    value: float
    side: str = ""  # "" inside the bins, "<" below the lowest edge, "≥" above the highest

    def text(self) -> str:
        return f"{self.side}{fmt(self.value)}" if self.side else fmt(self.value)


def shares(counts: Sequence[int]) -> list[float]:
    total = sum(counts)
    return [n / total if total else 0.0 for n in counts]


def binned_mean(counts: Sequence[int], bin_means: Sequence[float]) -> float | None:
    """The mean with every value at its bin's training mean (exact for training, an estimate for a window)."""
    total = sum(counts)
    if not total or len(bin_means) != len(counts):
        return None
    return sum(n * m for n, m in zip(counts, bin_means, strict=True)) / total


def binned_quantile(counts: Sequence[int], edges: Sequence[float], q: float) -> Bound | None:
    """The q-quantile from the binned CDF, linear inside a bin; a bound in the open tails."""
    total = sum(counts)
    if not total or len(counts) != len(edges) + 1:
        return None
    target, seen = q * total, 0.0
    for i, n in enumerate(counts):
        if n and seen + n >= target:
            if i == 0:
                return Bound(edges[0], "<") if edges else None
            if i == len(edges):
                return Bound(edges[-1], "≥")
            low, high = edges[i - 1], edges[i]
            return Bound(low + (high - low) * (target - seen) / n)
        seen += n
    return None


@dataclass(frozen=True, kw_only=True)
class Moved:
    """What moved inside a column between training and a window."""

    mean: tuple[float | None, float | None] = (None, None)
    quantiles: tuple[tuple[str, Bound | None, Bound | None], ...] = ()
    categories: tuple[tuple[str, float, float], ...] = ()  # (value, training share, window share)

    def text(self, top: int = 3) -> str:
        parts = []
        if self.mean[0] is not None and self.mean[1] is not None:
            parts.append(f"mean ≈ {fmt(self.mean[0])} → {fmt(self.mean[1])}")
        parts += [f"{name} {a.text()} → {b.text()}" for name, a, b in self.quantiles if a and b and a != b]
        parts += [f"{_cut(value, 40)} {pct(a, 0)} → {pct(b, 0)}" for value, a, b in self.categories[:top]]
        return "; ".join(parts)


QUANTILES_SHOWN = (("p10", 0.1), ("p50", 0.5), ("p90", 0.9))
OTHER = "other"


def category_labels(counts: BinnedCounts) -> list[str]:
    return [*counts.get("categories", []), OTHER]


def moved(counts: BinnedCounts) -> Moved:
    """Binned mean and quantiles (numeric) or the categories whose share changed most (categorical)."""
    train, window = counts.get("training", []), counts.get("window", [])
    if counts.get("kind") == "categorical":
        labels = category_labels(counts)
        if len(labels) != len(train) or len(train) != len(window):
            return Moved()
        changes = sorted(
            zip(labels, shares(train), shares(window), strict=True), key=lambda c: (-abs(c[2] - c[1]), c[0])
        )
        return Moved(categories=tuple(c for c in changes if abs(c[2] - c[1]) >= 0.005))
    edges, means = counts.get("edges", []), counts.get("bin_means", [])
    return Moved(
        mean=(binned_mean(train, means), binned_mean(window, means)),
        quantiles=tuple(
            (name, binned_quantile(train, edges, q), binned_quantile(window, edges, q)) for name, q in QUANTILES_SHOWN
        ),
    )


def method_label(name: str) -> str:
    """The plain-language name of a drift method (its descriptor's `label`), or the name itself."""
    return next((m.label for m in drift_methods() if m.name == name), name)


# ---------------------------------------------------------------- one finding per reason

_EXPECTATIONS = {
    "expect_column_values_to_not_be_null": "must not be NULL",
    "expect_column_values_to_be_in_set": "values must be among the training values",
    "expect_column_values_to_be_between": "values must stay in the validated range",
    "expect_column_values_to_be_unique": "values must be unique",
    "expect_column_to_exist": "column must exist",
    "expect_column_values_to_be_in_type_list": "type must match training",
    "expect_table_row_count_to_be_between": "row count must be in bounds",
}


def _expected(metric: str, kwargs: Mapping[str, Any]) -> str:
    parts = []
    low, high = kwargs.get("min_value"), kwargs.get("max_value")
    if low is not None or high is not None:
        if low is not None and high is not None:
            parts.append(f"between {fmt(low)} and {fmt(high)}")
        else:
            parts.append(f"at least {fmt(low)}" if low is not None else f"at most {fmt(high)}")
    if isinstance(kwargs.get("value_set"), list):
        values = [str(v) for v in kwargs["value_set"]]
        shown = ", ".join(_cut(v, 24) for v in values[:6]) + (f" (+{len(values) - 6})" if len(values) > 6 else "")
        parts.append(f"one of {shown}")
    if isinstance(kwargs.get("type_list"), list):
        parts.append("a type of " + ", ".join(str(t) for t in kwargs["type_list"][:4]))
    mostly = num(kwargs.get("mostly"))
    if mostly is not None and mostly < 1:
        parts.append(f"at most {pct(1 - mostly)} failing")
    return "; ".join(parts)


def _validation(row: Row) -> Finding:
    d = cast(ValidationDetails, details_of(row))
    metric, column = str(row["metric"]), str(row.get("column_name") or "")
    what = _EXPECTATIONS.get(metric, metric)
    observed = []
    unexpected, total = d.get("unexpected_count"), d.get("element_count")
    if isinstance(unexpected, int):
        share = d.get("unexpected_percent")
        counted = f"{unexpected:,}" + (f" of {total:,} rows" if isinstance(total, int) else " rows")
        observed.append((f"{num(share):.1f}% " if num(share) is not None else "") + f"failing ({counted})")
    elif d.get("observed_value") is not None:
        observed.append(_cut(json.dumps(d["observed_value"], default=str), 120))
    elif num(row.get("value")) is not None:
        observed.append(fmt(row.get("value")))
    samples = [
        str(v["value"])
        for v in d.get("partial_unexpected_counts") or []
        if isinstance(v, dict) and v.get("value") is not None
    ]
    if samples:
        observed.append("e.g. " + ", ".join(_cut(s, 30) for s in samples[:3]))
    if d.get("error"):
        observed.append("error: " + _cut(str(d["error"]), 160))
    expected = _expected(metric, d.get("kwargs") or {})
    detail = "observed " + ("; ".join(observed) or "a failure") + (f" · expected {expected}" if expected else "")
    return Finding(
        key=_label(row),
        topic="failed expectation",
        status=row["status"],
        title=f"{column}: {what}" if column else what,
        detail=detail,
        column=column,
    )


def drift_finding(column: str, rows: Sequence[Row]) -> Finding:
    """The drifted signals of a column in one finding: its distribution (what moved) and its NULL share."""
    flagged = [r for r in rows if r.get("status") not in (None, "ok")]
    parts = []
    for row in sorted(flagged, key=lambda r: r["metric"] == NULL_RATE_METRIC):
        d = cast(DriftDetails, details_of(row))
        limit = fmt(row.get("threshold"))
        if row["metric"] == NULL_RATE_METRIC:
            before, after = d.get("training_null_rate"), d.get("window_null_rate")
            parts.append(f"NULL share {pct(before)} → {pct(after)} (threshold ±{limit})")
            continue
        counts = d.get("counts")
        what = [moved(counts).text()] if counts else []
        unseen = d.get("unseen_values") or []
        if unseen:
            shown = ", ".join(f"{_cut(str(u.get('value')), 30)} ({u.get('count')} rows)" for u in unseen[:3])
            what.append(f"new values: {shown}")
        score = f"{method_label(str(row['metric']))} {fmt(row.get('value'))} (threshold {limit})"
        parts.append(score + (": " + "; ".join(w for w in what if w) if any(what) else ""))
    return Finding(
        key=f"drift({column})",
        topic="drift",
        status=worst(r["status"] for r in flagged),
        title=column,
        detail="; ".join(parts),
        column=column,
    )


def _versions(rows: Sequence[Row], previous: Mapping[str, int] | None) -> Finding:
    shares_now = {str(r["metric"]).removeprefix("share:"): num(r.get("value")) or 0.0 for r in rows}
    unknown = [v for r in rows if (v := str(r["metric"]).removeprefix("share:")) and details_of(r).get("unknown")]
    text = " + ".join(f"{_cut(v, 40)} ({pct(s, 0)})" for v, s in sorted(shares_now.items(), key=lambda kv: -kv[1]))
    notes = []
    if len(shares_now) > 1:
        notes.append("mixed versions in one window")
    if unknown:
        notes.append("not in allowed_model_versions: " + ", ".join(_cut(v, 40) for v in unknown))
    if previous is not None and set(previous) != set(shares_now):
        before = " + ".join(sorted(_cut(v, 40) for v in previous)) or "none"
        notes.append(f"previous window served {before}")
    return Finding(
        key="versions",
        topic="model versions",
        status=worst(r["status"] for r in rows),
        title="model versions",
        detail=text + (f" – {'; '.join(notes)}" if notes else ""),
        column=str(rows[0].get("column_name") or ""),
    )


def _health(row: Row) -> Finding:
    """Latency, volume, error rate, staleness, stability, schema, skew and window length rows."""
    column = str(row.get("column_name") or "")
    described = _health_text(str(row["metric"]), column, details_of(row), row.get("value"), row.get("threshold"))
    if described is None:
        return _generic(row)
    topic, title, detail = described
    return Finding(key=_label(row), topic=topic, status=row["status"], title=title, detail=detail, column=column)


_INVALID = {"null_share": "NULL", "nan_share": "NaN", "inf_share": "infinite", "out_of_range_share": "out-of-range"}


def _health_text(metric: str, column: str, d: dict[str, Any], value: Any, limit: Any) -> tuple[str, str, str] | None:
    """(topic, title, detail) of a health row, from its check's typed details; None for one unknown here."""
    if metric in {"p50", "p95", "p99"}:
        o = cast(OperationsDetails, d)
        median, high = num(o.get("trailing_median_p95")), num(limit)
        unit = f" {unit_of(column)}" if unit_of(column) else ""
        history = (
            f" ({fmt(high / median)} × the trailing median {fmt(median)} of "
            f"{o.get('trailing_windows')} healthy windows)"
            if median and high
            else ""
        )
        return "latency", f"{column}: {metric} latency", f"{fmt(value)}{unit} vs limit {fmt(limit)}{unit}{history}"
    if metric == "rows":
        o = cast(OperationsDetails, d)
        return (
            "volume",
            "request volume",
            f"{fmt(value)} rows vs the trailing median {fmt(o.get('trailing_median_rows'))} of "
            f"{o.get('trailing_windows')} healthy windows (rule: {o.get('rule', 'outside the usual range')})",
        )
    if metric == "error_rate":
        o = cast(OperationsDetails, d)
        counted = f"{o.get('errors', '?')} of {o.get('rows', '?')} requests"
        return "error rate", "error rate", f"{pct(value, 2)} ({counted}) vs limit {pct(limit, 2)}"
    if metric == "version_change":
        vc = cast(VersionChangeDetails, d)
        unexpected = vc.get("unexpected") or []
        since = str(vc.get("previous_window_start", ""))[:16].replace("T", " ")
        notes = [f"first window of {', '.join(_cut(v, 40) for v in vc.get('new') or [])}"]
        if unexpected:
            notes.append("not in allowed_model_versions: " + ", ".join(_cut(v, 40) for v in unexpected))
        if since:
            notes.append(f"previous serving window {since}")
        return (
            "model versions",
            "model version changed",
            _cut(str(vc.get("change", "")), 200) + f" ({'; '.join(notes)})",
        )
    if metric.startswith("model_age_days"):
        a = cast(AgeDetails, d)
        version = metric.partition(":")[2]
        title = f"model {_cut(version, 40)} age" if version else "model age"
        if a.get("problem"):
            return "staleness", title, str(a["problem"])
        trained = f"trained {str(a.get('trained_at', '?'))[:10]}, {a.get('source', '')}"
        limits = f"warning from {fmt(a.get('warn_days'))}, alert from {fmt(a.get('alert_days'))} days"
        return "staleness", title, f"{fmt(value)} days ({trained}); {limits}"
    if metric in _INVALID:
        s = cast(StabilityDetails, d)
        counted = f"{s.get('count', '?')} of {s.get('rows', '?')} rows"
        return (
            "stability",
            f"{column}: {_INVALID[metric]} predictions",
            f"{pct(value, 2)} ({counted}) vs at most {pct(limit, 2)}",
        )
    if metric == "schema_changes":
        sc = cast(SchemaDetails, d)
        compared = f" (compared with {sc['compared_with']})" if sc.get("compared_with") else ""
        return "schema", f"table {column} changed", _cut(str(sc.get("change", "columns changed")), 300) + compared
    if "problem" in d and "effect" in d:
        ss = cast(ServingSchemaDetails, d)
        return "schema", f"{column}: serving schema", f"{ss['problem']}; {ss['effect']}"
    if metric.startswith("skew"):
        k = cast(SkewDetails, d)
        table = k.get("offline_table", "the offline table")
        if metric == "skew_join_coverage":
            return "skew", f"{column}: training/serving skew", f"{pct(value)} of serving rows found in {table}"
        detail = f"{pct(value, 2)} of {k.get('joined', '?')} joined rows differ from {table} (limit {pct(limit, 2)})"
        return "skew", f"{column}: training/serving skew", detail
    if metric == "window_intervals":
        w = cast(WindowLengthDetails, d)
        detail = f"{fmt(value)} schedule intervals ({fmt(w.get('window_hours'))} h); warning above {fmt(limit)}"
        return "window length", "window length", f"{detail}: {w.get('rule', '')}"
    return None


def _generic(row: Row) -> Finding:
    """A row of a check this module does not know (e.g. a registered check of your own)."""
    column = str(row.get("column_name") or "")
    d = details_of(row)
    extra = next((str(d[k]) for k in ("change", "problem", "rule", "note") if isinstance(d.get(k), str)), "")
    limit = f" (threshold {fmt(row.get('threshold'))})" if row.get("threshold") is not None else ""
    return Finding(
        key=_label(row),
        topic=str(row["check_name"]),
        status=row["status"],
        title=f"{row['metric']}" + (f" of {column}" if column else ""),
        detail=f"{fmt(row.get('value'))}{limit}" + (f" – {_cut(extra, 200)}" if extra else ""),
        column=column,
    )


def anomaly_sentence(row: Row) -> str:
    """An anomaly row in words: `412 rows, 4.2 std below the mean 1,180 (± 60) of 28 earlier healthy
    windows (Saturdays)`."""
    d = cast(AnomalyDetails, details_of(row))
    value, mean, std, z = num(row.get("value")), num(d.get("mean")), num(d.get("std")), num(d.get("z"))
    share = row["metric"] in {"null_share", "error_rate"}

    unit = " rows" if row["metric"] == "rows" else f" {unit_of(str(row.get('column_name') or ''))}".rstrip()

    def shown(v: float | None) -> str:
        return pct(v, 2) if share else fmt(v) + unit

    if not d.get("judged") or mean is None or z is None:
        return f"{shown(value)} ({d.get('reason', 'not judged')})"
    where = "above" if z > 0 else "below"
    season = seasonality_text(str(d.get("seasonality", "none")), str(d.get("bucket", "")))
    if not std:
        windows = f"{d.get('n_history')} earlier healthy windows{season}"
        return f"{shown(value)}, {where} the constant {shown(mean)} of {windows}"
    return (
        f"{shown(value)}, {abs(z):.1f} std {where} the mean {shown(mean)} (± {shown(std)}) of "
        f"{d.get('n_history')} earlier healthy windows{season}; alert from {fmt(d.get('sensitivity'))} std"
    )


def _anomaly(row: Row) -> Finding:
    d = cast(AnomalyDetails, details_of(row))
    column = str(row.get("column_name") or "")
    what = str(d.get("series") or row["metric"])
    return Finding(
        key=_label(row),
        topic="anomaly",
        status=row["status"],
        title=f"{column}: unusual {what}" if column and row["metric"] == "null_share" else f"unusual {what}",
        detail=anomaly_sentence(row),
        column=column,
    )


def _prediction(row: Row) -> Finding:
    d = cast(MeanDetails, details_of(row))
    column = str(row.get("column_name") or "")
    training = d.get("training_mean", details_of(row).get("training"))
    z = num(d.get("z_standard_errors"))
    return Finding(
        key=_label(row),
        topic="prediction",
        status=row["status"],
        title=f"prediction {row['metric']} ({column})",
        detail=f"{fmt(training)} in training → {fmt(row.get('value'))}"
        + (f" ({z:.1f} standard errors)" if z is not None else ""),
        column=column,
    )


def _quality(rows: Sequence[Row], found: str | None) -> Finding:
    parts = [f"found by the labels DAG on {found}"] if found else []
    for row in rows:
        d = cast(QualityDetails, details_of(row))
        metric = str(row["metric"])
        if metric.startswith("estimated_"):  # CBPE, before the labels
            parts.append(
                f"{metric.removeprefix('estimated_')} estimated at {fmt(row.get('value'))} "
                f"(± {fmt(d.get('standard_error'))}) before the labels, vs limit {fmt(row.get('threshold'))} "
                f"(baseline {fmt(d.get('baseline'))}, from {d.get('rows', '?')} predictions)"
            )
            continue
        estimate = f"; estimated {fmt(d.get('estimated'))} before the labels" if d.get("estimated") is not None else ""
        parts.append(
            f"{metric} {fmt(row.get('value'))} vs limit {fmt(row.get('threshold'))} "
            f"(baseline {fmt(d.get('baseline'))}, {d.get('labeled', '?')} labels{estimate})"
        )
    return Finding(
        key="performance",
        topic="quality",
        status=worst(r["status"] for r in rows),
        title="prediction quality regressed",
        detail="; ".join(parts),
    )


def _dataset_drift(row: Row) -> Finding:
    d = details_of(row)
    cols = d.get("drifted_columns") or []
    return Finding(
        key=_label(row),
        topic="drift",
        status=row["status"],
        title="many columns drifted",
        detail=f"{len(cols)} of {d.get('columns', '?')} columns ({pct(row.get('value'), 0)}) drifted; "
        f"alert from {pct(row.get('threshold'), 0)}",
    )


# a run row's own status: (topic, title, detail; '' = the run's message)
_RUN_FINDINGS: dict[str, tuple[str, str, str]] = {
    "no_data": ("no data", "no serving rows", "is the model serving, and is prediction logging working?"),
    "error": ("error", "the monitoring run failed", ""),
}
_ORDER = ("quality", "failed expectation", "schema", "stability", "model versions", "drift", "prediction")


def window_findings(
    metrics: Iterable[Row],
    run: Row | None = None,
    previous_versions: Mapping[str, int] | None = None,
) -> list[Finding]:
    """Every reason for one window's status (its non-ok metric rows, grouped), most telling first.

    Args:
        metrics: the window's metric rows.
        run: its run row (for no_data / error, and when the labels DAG re-scored it).
        previous_versions: model versions of the window before (to name a version change).
    """
    rows = list(metrics)
    bad = [r for r in rows if r.get("status") not in (None, "ok")]
    out: list[Finding] = []
    drift: dict[str, list[Row]] = defaultdict(list)
    versions: list[Row] = []
    quality: list[Row] = []
    for r in bad:
        check, metric = r["check_name"], str(r["metric"])
        if check == "validation":
            out.append(_validation(r))
        elif check == "drift" and r.get("column_name"):
            drift[str(r["column_name"])].append(r)
        elif check == "drift" and metric == DRIFTED_SHARE:
            out.append(_dataset_drift(r))
        elif check == "stats":
            out.append(_prediction(r))
        elif check == "performance" and metric.startswith(QUALITY_PREFIX):
            out.append(_anomaly(r))
        elif check == "performance":
            quality.append(r)
        elif check == "health" and metric.startswith("share:"):
            versions.append(r)
        elif check == "health":
            out.append(_health(r))
        elif check == ANOMALY:
            out.append(_anomaly(r))
        else:
            out.append(_generic(r))
    for column in sorted(drift):
        both = [r for r in rows if r["check_name"] == "drift" and r.get("column_name") == column]
        out.append(drift_finding(column, both))
    if versions:
        out.append(_versions(versions, previous_versions))
    if quality:
        rescored = run.get("rescored_at") if run else None
        found = f"{rescored:%Y-%m-%d %H:%M} UTC" if isinstance(rescored, dt.datetime) else None
        out.append(_quality(sorted(quality, key=lambda r: str(r["metric"])), found))
    status = run.get("status") if run is not None else None
    if run is not None and status in _RUN_FINDINGS:
        topic, title, detail = _RUN_FINDINGS[status]
        detail = detail or _cut(str(run.get("message") or ""), 300)
        out.append(Finding(key=f"status:{status}", topic=topic, status=status, title=title, detail=detail))
    rank = {"error": 0, "alert": 1, "warning": 2, "no_data": 3, "ok": 4}
    return sorted(out, key=lambda f: (rank.get(f.status, 5), _topic_rank(f.topic), f.title))


def _topic_rank(topic: str) -> int:
    return _ORDER.index(topic) if topic in _ORDER else len(_ORDER)


def versions_of(run: Row) -> dict[str, int]:
    raw = run.get("model_versions")
    try:
        data = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        return {}
    return {str(k): int(v) for k, v in data.items()} if isinstance(data, dict) else {}


def new_versions(metrics: Iterable[Row]) -> dict[dt.datetime, tuple[str, ...]]:
    """Per window start, the versions it served first (its `version_change` row), whatever the row's status."""
    out: dict[dt.datetime, tuple[str, ...]] = {}
    for m in metrics:
        if m["check_name"] == "health" and m["metric"] == "version_change":
            new = cast(VersionChangeDetails, details_of(m)).get("new") or []
            if new:
                out[m["window_start"]] = tuple(str(v) for v in new)
    return out


GAP = 2  # a reason back within this many windows continues its incident (a column drifting on and off)


def findings_by_window(runs: Sequence[Row], metrics: Iterable[Row]) -> dict[dt.datetime, list[Finding]]:
    """The findings of every window of `runs`, each with since when it holds: the first window of its
    incident over the windows read (oldest first), a reason back within `GAP` windows continuing it;
    `windows` counts the windows it held in. An incident reaching the oldest window read is open-ended."""
    by_window: dict[dt.datetime, list[Row]] = defaultdict(list)
    for m in metrics:
        by_window[m["window_start"]].append(m)
    ordered = sorted(runs, key=lambda r: r["window_start"])
    out: dict[dt.datetime, list[Finding]] = {}
    incidents: dict[str, tuple[dt.datetime, int, int, bool]] = {}  # key -> since, windows, last index, open
    previous: Row | None = None
    for i, run in enumerate(ordered):
        start = run["window_start"]
        found = window_findings(by_window.get(start, []), run, versions_of(previous) if previous else None)
        dated = []
        for f in found:
            since, n, last, open_ended = incidents.get(f.key, (start, 0, i, i == 0))
            if i - last - 1 > GAP:  # an earlier incident of the same reason: this is a new one
                since, n, open_ended = start, 0, False
            incidents[f.key] = (since, n + 1, i, open_ended)
            dated.append(replace(f, since=since, windows=n + 1, open_ended=open_ended))
        previous = run
        out[start] = dated
    return out


@dataclass(frozen=True, kw_only=True)
class Episode:
    """A reason that held over (nearly) consecutive windows: from its first to its last window."""

    finding: Finding  # as in its last window
    first: dt.datetime
    last: dt.datetime
    windows: int
    ongoing: bool  # it still holds in the newest window read

    def text(self) -> str:
        span = day_text(self.first) if self.first == self.last else f"{day_text(self.first)} → {day_text(self.last)}"
        return f"{span} ({self.windows} window{'s' if self.windows != 1 else ''}{', ongoing' if self.ongoing else ''})"


def day_text(at: dt.datetime) -> str:
    return at.strftime("%Y-%m-%d") if (at.hour, at.minute) == (0, 0) else at.strftime("%Y-%m-%d %H:%M")


def episodes(found: Mapping[dt.datetime, Sequence[Finding]]) -> list[Episode]:
    """Every incident of every reason over the windows read (`findings_by_window`): from its first to its
    last window; ongoing ones (still there in the newest window) first, then the newest first."""
    newest = max(found, default=None)
    last: dict[tuple[str, dt.datetime], tuple[dt.datetime, Finding]] = {}
    for start in sorted(found):
        for f in found[start]:
            last[(f.key, f.since or start)] = (start, f)
    out = [
        Episode(finding=f, first=first, last=end, windows=f.windows, ongoing=end == newest)
        for (_, first), (end, f) in last.items()
    ]
    rank = {"error": 0, "alert": 1, "warning": 2, "no_data": 3}
    return sorted(out, key=lambda e: (not e.ongoing, -e.first.timestamp(), rank.get(e.finding.status, 4)))


@dataclass(frozen=True, kw_only=True)
class Health:
    """Since when a model has been unhealthy: the streak of non-ok windows ending at the latest one."""

    since: dt.datetime | None
    windows: int
    open_ended: bool

    def text(self) -> str:
        if not self.windows or self.since is None:
            return "healthy"
        at_least = "at least " if self.open_ended else ""
        n = f"{at_least}{self.windows} window{'s' if self.windows != 1 else ''}"
        return f"unhealthy since {self.since:%Y-%m-%d %H:%M} ({n})"


def unhealthy_streak(runs: Sequence[Row]) -> Health:
    """The run rows' newest streak of windows whose status is not ok."""
    ordered = sorted(runs, key=lambda r: r["window_start"], reverse=True)
    n = 0
    for run in ordered:
        if run.get("status") not in UNHEALTHY:
            break
        n += 1
    return Health(
        since=ordered[n - 1]["window_start"] if n else None,
        windows=n,
        open_ended=bool(n) and n == len(ordered),
    )
