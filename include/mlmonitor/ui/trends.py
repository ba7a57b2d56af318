"""The dashboard's charts, built from result rows: one per drifted column (both drift signals), the
training vs window distribution of a drifted column, the prediction, realized quality against its
baseline and limit, label coverage, volume and latency. Pure functions returning chart data
(`svgchart`); the page modules render them.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import cast

from mlmonitor.checks.anomalies import QUALITY_PREFIX
from mlmonitor.checks.drift import NULL_RATE_METRIC, BinnedCounts, DriftDetails
from mlmonitor.checks.drift_methods import drift_methods
from mlmonitor.checks.performance import QualityDetails
from mlmonitor.checks.prediction import MEAN_SHIFT_STD
from mlmonitor.checks.scores import LOWER_IS_BETTER
from mlmonitor.ui.findings import OTHER, Row, category_labels, details_of, fmt, method_label, num, shares, unit_of
from mlmonitor.ui.svgchart import Band, Bars, Chart, Point, RefLine, Series


def by_key(metrics: Iterable[Row], check: str) -> dict[tuple[str, str], list[Row]]:
    """Metric rows of one check grouped by (column, metric), oldest window first."""
    groups: dict[tuple[str, str], list[Row]] = defaultdict(list)
    for m in metrics:
        if m["check_name"] == check:
            groups[(str(m.get("column_name") or ""), str(m["metric"]))].append(m)
    for rows in groups.values():
        rows.sort(key=lambda m: m["window_start"])
    return groups


def _threshold(rows: Sequence[Row]) -> float | None:
    return next((t for m in reversed(rows) if (t := num(m.get("threshold"))) is not None), None)


def _decision(row: Row) -> str:
    d = cast(DriftDetails, details_of(row))
    decision = d.get("decision") or ("drift" if row.get("status") not in (None, "ok") else "no drift")
    q = num(row.get("p_value"))
    evidence = "" if q is None else ", adjusted p < 0.001" if q < 0.001 else f", adjusted p {q:.2g}"
    return decision + evidence


@dataclass(frozen=True, kw_only=True)
class ColumnDrift:
    """A monitored column over the windows shown: its two signals, and where it drifted."""

    column: str
    kind: str
    method: str
    method_label: str
    chart: Chart
    drifted_windows: int
    windows: int
    latest: Row | None  # the newest distribution row
    latest_drifted: Row | None  # the distribution row of the newest drifted window (its details hold the counts)
    latest_drifted_rows: tuple[Row, ...]  # both signals' rows of that window
    score: tuple[tuple[dt.datetime, float | None, str], ...]  # (window, value, status) for the sparkline

    @property
    def drifted(self) -> bool:
        return self.drifted_windows > 0


def column_drift(metrics: Sequence[Row]) -> list[ColumnDrift]:
    """Per monitored column: one chart with both signals against their thresholds; drifted columns first
    (most drifted windows first), then the stable ones by name."""
    groups = by_key(metrics, "drift")
    columns = sorted({c for c, _ in groups if c})
    out = []
    for column in columns:
        dist_key = next((k for k in groups if k[0] == column and k[1] != NULL_RATE_METRIC), None)
        nulls = groups.get((column, NULL_RATE_METRIC), [])
        dist = groups.get(dist_key, []) if dist_key else []
        method = dist_key[1] if dist_key else NULL_RATE_METRIC
        label = method_label(method)
        series, lines = [], []
        if dist:
            points = tuple(
                Point(m["window_start"], num(m.get("value")), str(m.get("status") or "ok"), _decision(m)) for m in dist
            )
            series.append(Series(label, points, tone=0))
            if (t := _threshold(dist)) is not None:
                lines.append(RefLine("threshold", t, tone=0))
        if nulls:
            points = tuple(
                Point(
                    m["window_start"],
                    abs(v) if (v := num(m.get("value"))) is not None else None,
                    str(m.get("status") or "ok"),
                    _decision(m),
                )
                for m in nulls
            )
            series.append(Series("change of the NULL share", points, tone=1))
            if (t := _threshold(nulls)) is not None:
                lines.append(RefLine("NULL-share threshold", t, tone=1))
        by_window: dict[dt.datetime, str] = {}
        for m in (*dist, *nulls):
            if m.get("status") not in (None, "ok"):
                by_window[m["window_start"]] = "warning"
        windows = {m["window_start"] for m in (*dist, *nulls)}
        # the distribution row of the newest window where either signal drifted (its details hold the counts)
        drifted = [m for m in dist if m["window_start"] in by_window]
        kind = _kind(method, dist)
        chart = Chart(
            key=f"drift-{column}",
            title=column,
            subtitle=f"drifted in {len(by_window)} of {len(windows)} windows" if by_window else "no drift",
            y_label="drift score",
            series=tuple(series),
            lines=tuple(lines),
            y_min=0.0,
            extra_legend=(("drifted window", "warning"),) if by_window else (),
        )
        out.append(
            ColumnDrift(
                column=column,
                kind=kind,
                method=method,
                method_label=label,
                chart=chart,
                drifted_windows=len(by_window),
                windows=len(windows),
                latest=dist[-1] if dist else None,
                latest_drifted=drifted[-1] if drifted else None,
                latest_drifted_rows=tuple(
                    m for m in (*dist, *nulls) if drifted and m["window_start"] == drifted[-1]["window_start"]
                ),
                score=tuple((m["window_start"], num(m.get("value")), str(m.get("status") or "ok")) for m in dist),
            )
        )
    out.sort(key=lambda c: (not c.drifted, -c.drifted_windows, c.column))
    return out


def _kind(method: str, rows: Sequence[Row]) -> str:
    """numeric or categorical: from a row's details, else from the method when it serves one kind only."""
    for m in reversed(rows):
        kind = cast(DriftDetails, details_of(m)).get("kind")
        if kind:
            return str(kind)
    kinds = next((sorted(d.kinds) for d in drift_methods() if d.name == method), [])
    return kinds[0] if len(kinds) == 1 else ""


def _bin_labels(edges: Sequence[float]) -> list[str]:
    if not edges:
        return ["all values"]
    labels = [f"< {fmt(edges[0])}"]
    labels += [f"{fmt(a)}–{fmt(b)}" for a, b in itertools.pairwise(edges)]
    return [*labels, f"≥ {fmt(edges[-1])}"]


MAX_BARS = 12


def distribution(column: str, row: Row) -> Bars | None:
    """Training vs window shares of a drift row's stored counts: the frozen bins of a numeric column,
    the categories of a categorical one (the largest shares, the rest summed as 'other')."""
    counts = cast(DriftDetails, details_of(row)).get("counts")
    if not counts:
        return None
    train, window = shares(counts.get("training", [])), shares(counts.get("window", []))
    if counts.get("kind") == "categorical":
        labels = category_labels(counts)
        x_label = "category (top training values, then other)"
    else:
        labels = _bin_labels(counts.get("edges", []))
        x_label = "frozen training bins (deciles of training)"
    if not (len(labels) == len(train) == len(window)) or not labels:
        return None
    buckets = list(zip(labels, train, window, strict=True))
    if len(buckets) > MAX_BARS:  # keep the largest, fold the rest into "other"
        named = [b for b in buckets if b[0] != OTHER]
        named.sort(key=lambda b: -max(b[1], b[2]))
        keep, rest = named[: MAX_BARS - 1], named[MAX_BARS - 1 :] + [b for b in buckets if b[0] == OTHER]
        buckets = [*keep, (OTHER, sum(b[1] for b in rest), sum(b[2] for b in rest))]
    start = row["window_start"]
    return Bars(
        key=f"distribution-{column}-{start:%Y%m%d%H%M}",
        title=f"{column}: training vs window {start:%Y-%m-%d %H:%M}",
        buckets=tuple(b[0] for b in buckets),
        training=tuple(b[1] for b in buckets),
        window=tuple(b[2] for b in buckets),
        window_label=f"window {start:%Y-%m-%d %H:%M}",
        x_label=x_label,
    )


def counts_of(row: Row) -> BinnedCounts | None:
    return cast(DriftDetails, details_of(row)).get("counts")


def prediction_charts(metrics: Sequence[Row]) -> list[Chart]:
    """The prediction's window mean against the training mean (and its tolerance band), and its spread."""
    groups = by_key(metrics, "stats")
    charts = []
    for (column, metric), rows in sorted(groups.items()):
        if metric != "mean":
            continue
        d = details_of(rows[-1])
        mean, std = num(d.get("training_mean")), num(d.get("training_std"))
        band = None
        if mean is not None and std:
            tol = MEAN_SHIFT_STD * std
            band = Band(f"usual range: training mean ± {MEAN_SHIFT_STD:g} training std", mean - tol, mean + tol)
        points = tuple(Point(m["window_start"], num(m.get("value")), str(m.get("status") or "ok")) for m in rows)
        charts.append(
            Chart(
                key=f"prediction-mean-{column}",
                title=f"Prediction mean ({column})",
                subtitle="a marked window: the mean left the usual range and the shift is significant",
                y_label=f"mean of {column}",
                series=(Series("mean per window", points),),
                lines=(RefLine("training mean", mean, "baseline"),) if mean is not None else (),
                band=band,
                extra_legend=(("mean moved (warning)", "warning"),),
            )
        )
        spread = groups.get((column, "std"), [])
        if spread:
            train_std = next((t for m in spread if (t := num(details_of(m).get("training"))) is not None), None)
            charts.append(
                Chart(
                    key=f"prediction-std-{column}",
                    title=f"Prediction spread ({column})",
                    subtitle="standard deviation of the prediction per window",
                    y_label=f"std of {column}",
                    series=(
                        Series("std per window", tuple(Point(m["window_start"], num(m.get("value"))) for m in spread)),
                    ),
                    lines=(RefLine("training std", train_std, "baseline"),) if train_std is not None else (),
                    y_min=0.0,
                )
            )
    return charts


@dataclass(frozen=True, kw_only=True)
class Quality:
    """Realized quality over the windows shown: charts of the metrics that regressed (or the headline
    metric), label coverage, and the other metrics' latest values for a compact table."""

    charts: tuple[Chart, ...]
    coverage: Chart | None
    others: tuple[tuple[str, Row, tuple[tuple[dt.datetime, float | None, str], ...]], ...]
    estimated: tuple[Chart, ...] = ()


HEADLINE = ("roc_auc", "accuracy", "rmse", "mae")


def _quality_chart(metric: str, rows: Sequence[Row]) -> Chart:
    judged = [r for r in rows if r.get("threshold") is not None]
    d = cast(QualityDetails, details_of((judged or rows)[-1]))
    base, limit = num(d.get("baseline")), _threshold(judged)
    worse = "above" if metric in LOWER_IS_BETTER else "below"
    lines = []
    if base is not None:
        lines.append(RefLine(f"baseline ({d.get('baseline_source') or 'training'})", base, "baseline"))
    if limit is not None:
        lines.append(RefLine("alert limit", limit, "limit"))
    points = tuple(
        Point(r["window_start"], num(r.get("value")), str(r.get("status") or "ok"), _quality_note(r)) for r in rows
    )
    return Chart(
        key=f"quality-{metric}",
        title=metric.replace("_", " "),
        subtitle=f"a marked window: {worse} the limit and significantly worse than the baseline",
        y_label=metric,
        series=(Series(f"{metric} with the labels arrived so far", points),),
        lines=tuple(lines),
        extra_legend=(("quality regressed (alert)", "alert"),),
    )


def _quality_note(row: Row) -> str:
    d = cast(QualityDetails, details_of(row))
    if "method" in d:  # an estimate (CBPE): made from the predictions, before the labels
        return f"estimated from {d.get('rows', '?')} predictions"
    note = f"{d.get('labeled', '?')} labels"
    if d.get("estimation_error") is not None:
        note += f"; estimated {fmt(d.get('estimated'))} before them (error {fmt(d.get('estimation_error'))})"
    return note + (f"; {d['note']}" if d.get("note") else "")


def quality(metrics: Sequence[Row]) -> Quality | None:
    """Realized quality from the `performance` rows, or None when the model has no labels."""
    groups = {metric: rows for (_, metric), rows in by_key(metrics, "performance").items()}
    if not groups:
        return None
    coverage_rows = groups.pop("label_coverage", [])
    groups = {m: r for m, r in groups.items() if not m.startswith(QUALITY_PREFIX)}  # history judgements: findings
    estimated = {m: r for m, r in groups.items() if m.startswith("estimated_")}
    realized = {m: r for m, r in groups.items() if m not in estimated}
    regressed = [m for m, rows in realized.items() if any(r.get("status") not in (None, "ok") for r in rows)]
    headline = regressed or [m for m in HEADLINE if m in realized][:1] or sorted(realized)[:1]
    charts = tuple(_quality_chart(m, realized[m]) for m in sorted(headline))
    others = tuple(
        (m, rows[-1], tuple((r["window_start"], num(r.get("value")), str(r.get("status") or "ok")) for r in rows))
        for m, rows in sorted(realized.items())
        if m not in headline
    )
    coverage = None
    if coverage_rows:
        coverage = Chart(
            key="label-coverage",
            title="Label coverage",
            subtitle="share of the window's predictions whose label has arrived (labels arrive late)",
            y_label="labelled share",
            series=(Series("labelled", tuple(Point(r["window_start"], num(r.get("value"))) for r in coverage_rows)),),
            y_min=0.0,
            y_max=1.0,
            percent=True,
        )
    return Quality(
        charts=charts,
        coverage=coverage,
        others=others,
        estimated=tuple(_quality_chart(m, rows) for m, rows in sorted(estimated.items())),
    )


def operations_charts(runs: Sequence[Row], metrics: Sequence[Row]) -> list[Chart]:
    """Rows served per window (marked where the volume check warned) and latency p50/p95/p99 with the
    p95 limit of each window (dashed)."""
    health = by_key(metrics, "health")
    volume_status = {m["window_start"]: str(m.get("status") or "ok") for m in health.get(("", "rows"), [])}
    ordered = sorted(runs, key=lambda r: r["window_start"])
    volume = Chart(
        key="volume",
        title="Request volume",
        subtitle="serving rows per window; a marked window: volume dropped or spiked against recent healthy windows",
        y_label="rows per window",
        series=(
            Series(
                "rows",
                tuple(
                    Point(r["window_start"], float(r["rows"] or 0), volume_status.get(r["window_start"], "ok"))
                    for r in ordered
                ),
            ),
        ),
        y_min=0.0,
        extra_legend=(("volume anomaly (warning)", "warning"),),
    )
    charts = [volume]
    columns = sorted({c for (c, metric) in health if metric in {"p50", "p95", "p99"}})
    for column in columns:
        unit = unit_of(column)
        series = [
            Series(
                metric,
                tuple(Point(m["window_start"], num(m.get("value")), str(m.get("status") or "ok")) for m in rows),
                tone=tone,
                unit=unit,
                marked=metric == "p95",
            )
            for tone, metric in enumerate(("p50", "p95", "p99"))
            if (rows := health.get((column, metric)))
        ]
        limit = tuple(Point(m["window_start"], num(m.get("threshold"))) for m in health.get((column, "p95"), []))
        if any(p.value is not None for p in limit):
            series.append(Series("p95 limit (from recent healthy windows)", limit, tone=3, unit=unit, dashed=True))
        charts.append(
            Chart(
                key=f"latency-{column}",
                title=f"Latency ({column})",
                subtitle="a marked p95: slower than the limit from recent healthy windows",
                y_label=f"latency ({unit or 'as logged'})",
                series=tuple(series),
                y_min=0.0,
                extra_legend=(("latency regression (warning)", "warning"),),
            )
        )
    return charts
