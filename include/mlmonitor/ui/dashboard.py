"""The monitoring dashboard: results rows shaped into views and rendered as one HTML page each.

Pure functions over the rows of `mlmonitor_runs` / `mlmonitor_metrics` (as `results.read_runs` /
`read_metrics` return them); the Airflow plugin only fetches rows and serves the strings. Metric
details are read defensively: other checks add keys and rows over time. Every text is escaped.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

from mlmonitor.checks.prediction import MEAN_SHIFT_STD
from mlmonitor.checks.registry import status_meanings
from mlmonitor.names import baseline_dag_id, monitor_dag_id
from mlmonitor.ui.links import airflow_run_url, dashboard_url, docs_index_url, docs_url, metrics_url
from mlmonitor.ui.svgchart import (
    SERIES_COLOURS,
    STATUS_COLOURS,
    Band,
    Chart,
    Point,
    RefLine,
    Series,
    format_number,
    legend,
    render,
)

Row = Mapping[str, Any]
STATUS_TEXT = {
    "ok": "ok",
    "warning": "warning",
    "alert": "alert",
    "no_data": "no data",
    "error": "error",
}


@dataclass(frozen=True)
class WindowView:
    """One monitored window as the dashboard lists it."""

    start: dt.datetime
    end: dt.datetime
    status: str
    rows: int
    versions: dict[str, int]
    failed_expectations: tuple[str, ...]
    drifted_columns: tuple[str, ...]
    message: str
    docs_href: str | None
    run_href: str | None


@dataclass(frozen=True)
class ModelView:
    """A model's page: its windows (newest first) and its trend charts by section."""

    model: str
    description: str
    windows: tuple[WindowView, ...]
    sections: tuple[tuple[str, str, tuple[Chart, ...]], ...]  # (title, explanation, charts)


def _details(row: Row) -> dict[str, Any]:
    raw = row.get("details")
    if isinstance(raw, dict):
        return raw
    try:
        data = json.loads(raw or "{}")
    except (TypeError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _num(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _label(row: Row) -> str:
    return f"{row['metric']}({row['column_name']})" if row.get("column_name") else str(row["metric"])


def _versions(raw: Any) -> dict[str, int]:
    try:
        data = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        return {}
    return {str(k): int(v) for k, v in data.items()} if isinstance(data, dict) else {}


def window_views(model: str, runs: Sequence[Row], metrics: Iterable[Row], base: str = "") -> list[WindowView]:
    """Run rows joined with their failed expectations and drifted columns, newest first."""
    failed: dict[dt.datetime, set[str]] = defaultdict(set)
    drifted: dict[dt.datetime, set[str]] = defaultdict(set)
    for m in metrics:
        if m.get("status") in (None, "ok"):
            continue
        if m["check_name"] == "validation":
            failed[m["window_start"]].add(_label(m))
        elif m["check_name"] == "drift" and m.get("column_name"):
            drifted[m["window_start"]].add(str(m["column_name"]))
    out = []
    for r in sorted(runs, key=lambda r: r["window_start"], reverse=True):
        start = r["window_start"]
        out.append(
            WindowView(
                start=start,
                end=r["window_end"],
                status=str(r["status"]),
                rows=int(r["rows"] or 0),
                versions=_versions(r.get("model_versions")),
                failed_expectations=tuple(sorted(failed.get(start, ()))),
                drifted_columns=tuple(sorted(drifted.get(start, ()))),
                message=str(r.get("message") or ""),
                docs_href=docs_url(base, r["docs_path"]) if r.get("docs_path") else None,
                run_href=airflow_run_url(base, monitor_dag_id(model), r["airflow_run_id"])
                if r.get("airflow_run_id")
                else None,
            )
        )
    return out


def _by(metrics: Iterable[Row], check: str) -> dict[tuple[str, str], list[Row]]:
    """Metric rows of one check grouped by (column, metric), oldest window first."""
    groups: dict[tuple[str, str], list[Row]] = defaultdict(list)
    for m in metrics:
        if m["check_name"] == check:
            groups[(str(m.get("column_name") or ""), str(m["metric"]))].append(m)
    for rows in groups.values():
        rows.sort(key=lambda m: m["window_start"])
    return groups


def drift_charts(metrics: Sequence[Row]) -> list[Chart]:
    """One chart per column: its drift score per window against the column's threshold.

    Columns that drifted in any window come first, so the story is at the top of the page.
    """
    charts = []
    for (column, metric), rows in _by(metrics, "drift").items():
        if not column:
            continue
        points = []
        for m in rows:
            d = _details(m)
            note = ", ".join(
                f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}"
                for k, v in (("decision", d.get("decision")), ("adjusted p", _num(m.get("p_value"))))
                if v is not None
            )
            points.append(Point(m["window_start"], _num(m.get("value")), str(m.get("status") or "ok"), note))
        threshold = next((t for m in reversed(rows) if (t := _num(m.get("threshold"))) is not None), None)
        n_drifted = sum(p.status != "ok" for p in points)
        charts.append(
            Chart(
                key=f"drift-{column}-{metric}",
                title=column,
                subtitle=f"drifted in {n_drifted} of {len(points)} windows" if n_drifted else "no drift",
                y_label=f"drift score ({metric})",
                series=(Series(f"{metric} of the window vs training", tuple(points)),),
                lines=(RefLine(f"drift threshold ({format_number(threshold)})", threshold),)
                if threshold is not None
                else (),
                y_min=0.0,
                extra_legend=(("drifted window", STATUS_COLOURS["warning"]),),
            )
        )
    charts.sort(key=lambda c: (c.subtitle == "no drift", c.title))
    return charts


def prediction_charts(metrics: Sequence[Row]) -> list[Chart]:
    """The prediction's window mean against the training mean, and its spread against training."""
    groups = _by(metrics, "stats")
    charts = []
    for (column, metric), rows in sorted(groups.items()):
        if metric != "mean":
            continue
        d = _details(rows[-1])
        mean, std = _num(d.get("training_mean")), _num(d.get("training_std"))
        band = None
        if mean is not None and std:
            tol = MEAN_SHIFT_STD * std
            band = Band(f"tolerance: training mean ± {MEAN_SHIFT_STD:g} training std", mean - tol, mean + tol)
        points = tuple(Point(m["window_start"], _num(m.get("value")), str(m.get("status") or "ok")) for m in rows)
        charts.append(
            Chart(
                key=f"prediction-mean-{column}",
                title=f"Prediction mean ({column})",
                subtitle="a marked point: the mean left the tolerance band and the shift is significant",
                y_label=column,
                series=(Series("window mean", points),),
                lines=(RefLine("training mean", mean, "#2e7d32"),) if mean is not None else (),
                band=band,
                extra_legend=(("moved mean (warning)", STATUS_COLOURS["warning"]),),
            )
        )
        spread = groups.get((column, "std"), [])
        if spread:
            train_std = next((t for m in spread if (t := _num(_details(m).get("training"))) is not None), None)
            charts.append(
                Chart(
                    key=f"prediction-std-{column}",
                    title=f"Prediction spread ({column})",
                    subtitle="standard deviation of the prediction per window",
                    y_label=f"std of {column}",
                    series=(
                        Series("window std", tuple(Point(m["window_start"], _num(m.get("value"))) for m in spread)),
                    ),
                    lines=(RefLine("training std", train_std, "#2e7d32"),) if train_std is not None else (),
                    y_min=0.0,
                )
            )
    return charts


def _unit(column: str) -> str:
    for suffix, unit in (("_ms", "ms"), ("_s", "s"), ("_seconds", "s"), ("_us", "µs")):
        if column.endswith(suffix):
            return unit
    return "as logged"


def operations_charts(runs: Sequence[Row], metrics: Sequence[Row]) -> list[Chart]:
    """Rows served per window and the latency percentiles (with the p95 regression limit)."""
    ordered = sorted(runs, key=lambda r: r["window_start"])
    volume = Chart(
        key="volume",
        title="Row volume",
        subtitle="serving rows per window; colour = window status",
        y_label="rows per window",
        series=(
            Series("rows", tuple(Point(r["window_start"], float(r["rows"] or 0), str(r["status"])) for r in ordered)),
        ),
        y_min=0.0,
        extra_legend=tuple((STATUS_TEXT[s], STATUS_COLOURS[s]) for s in ("warning", "alert", "no_data")),
    )
    charts = [volume]
    health = _by(metrics, "health")
    columns = sorted({c for (c, metric) in health if metric in {"p50", "p95", "p99"}})
    for column in columns:
        series = [
            Series(
                metric,
                tuple(Point(m["window_start"], _num(m.get("value")), str(m.get("status") or "ok")) for m in rows),
                colour,
            )
            for metric, colour in zip(("p50", "p95", "p99"), SERIES_COLOURS, strict=False)
            if (rows := health.get((column, metric)))
        ]
        limit = tuple(Point(m["window_start"], _num(m.get("threshold"))) for m in health.get((column, "p95"), []))
        if any(p.value is not None for p in limit):
            series.append(Series("p95 regression limit", limit, "#c62828"))
        charts.append(
            Chart(
                key=f"latency-{column}",
                title=f"Latency percentiles ({column})",
                subtitle="a marked p95 point: slower than the limit from trailing healthy windows",
                y_label=f"latency ({_unit(column)})",
                series=tuple(series),
                y_min=0.0,
                extra_legend=(("latency regression (warning)", STATUS_COLOURS["warning"]),),
            )
        )
    return charts


def model_view(model: str, description: str, runs: Sequence[Row], metrics: Sequence[Row], base: str = "") -> ModelView:
    return ModelView(
        model=model,
        description=description,
        windows=tuple(window_views(model, runs, metrics, base)),
        sections=(
            (
                "Feature and prediction drift",
                "Drift score of each column per window against its threshold (dashed). A column drifts when "
                "the score passes the threshold and the test is significant after correction across columns.",
                tuple(drift_charts(metrics)),
            ),
            (
                "Prediction",
                "Statistics of the model output per window against the training data.",
                tuple(prediction_charts(metrics)),
            ),
            ("Volume and latency", "Traffic and serving latency per window.", tuple(operations_charts(runs, metrics))),
        ),
    )


# ---------------------------------------------------------------- HTML

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:0}
body{color:#1d2430;background:#f6f7f9}
header{background:#17324d;color:#fff;padding:12px 24px;display:flex;gap:24px;align-items:baseline}
header a{color:#cfe3ff}header h1{font-size:18px;margin:0}
main{padding:16px 24px;max-width:1500px}
h2{font-size:16px;margin:24px 0 4px}p.hint{color:#555;margin:0 0 8px}
table{border-collapse:collapse;background:#fff;width:100%}
th,td{border-bottom:1px solid #e3e6ea;padding:6px 8px;text-align:left;vertical-align:top}
th{background:#eef1f4;font-weight:600}td.num{text-align:right;font-variant-numeric:tabular-nums}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;color:#fff;font-weight:600;font-size:12px}
.strip{display:flex;gap:2px}.strip a,.strip span{width:10px;height:18px;display:inline-block;border-radius:2px}
.grid{display:flex;flex-wrap:wrap;gap:12px}
figure{margin:0;background:#fff;border:1px solid #e3e6ea;border-radius:6px;padding:8px}
figcaption{font-weight:600}figcaption small{font-weight:400;color:#555;display:block}
svg .tick{font-size:10px;fill:#555}svg .axis{font-size:11px;fill:#333}
.legend{font-size:12px;color:#333;display:flex;flex-wrap:wrap;gap:10px;max-width:430px}
.lg i{display:inline-block;width:14px;height:4px;margin-right:4px;vertical-align:middle}
.lg i.dash{height:0;border-top:2px dashed}.lg i.dot{width:9px;height:9px;border-radius:50%}
.legend-status{display:flex;gap:14px;flex-wrap:wrap;margin:8px 0;font-size:13px}
.muted{color:#666}code{background:#eef1f4;padding:0 3px}
"""


def _badge(status: str) -> str:
    colour = STATUS_COLOURS.get(status, "#555")
    text = STATUS_TEXT.get(status, status)
    meaning = escape("; ".join(status_meanings().get(status, [])))  # type: ignore[call-overload]
    return f'<span class="badge" style="background:{colour}" title="{meaning}">{escape(text)}</span>'


def _status_legend() -> str:
    return (
        '<div class="legend-status">'
        + "".join(
            f"<span>{_badge(s)} {escape('; '.join(meanings))}</span>" for s, meanings in status_meanings().items()
        )
        + "</div>"
    )


def _page(title: str, body: str, base: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>"
        f'<header><h1>ML Monitoring</h1><a href="{escape(dashboard_url(base))}">All models</a>'
        f'<a href="{escape(docs_index_url(base))}">Data Docs</a>'
        f'<a href="{escape(metrics_url(base))}">Prometheus metrics</a>'
        f'<a href="{escape(base or "/")}">Airflow</a></header>'
        f"<main>{body}</main></body></html>"
    )


def _when(at: dt.datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M")


def _link(href: str | None, text: str) -> str:
    return f'<a href="{escape(href)}">{escape(text)}</a>' if href else '<span class="muted">-</span>'


@dataclass(frozen=True)
class ModelSummary:
    """A line of the overview: the model, its latest window and the statuses of recent windows."""

    model: str
    description: str
    latest: WindowView | None
    recent: tuple[WindowView, ...]  # oldest first
    error: str | None = None


def model_summary(model: str, description: str, windows: Sequence[WindowView], recent: int = 30) -> ModelSummary:
    return ModelSummary(model, description, windows[0] if windows else None, tuple(reversed(windows[:recent])))


def _strip(model: str, windows: Sequence[WindowView], base: str) -> str:
    cells = [
        f'<a href="{escape(dashboard_url(base, model))}#w-{w.start:%Y%m%d%H%M}" '
        f'style="background:{STATUS_COLOURS.get(w.status, "#555")}" '
        f'title="{escape(_when(w.start))}: {escape(STATUS_TEXT.get(w.status, w.status))}"></a>'
        for w in windows
    ]
    return '<div class="strip">' + "".join(cells) + "</div>"


def render_index(models: Sequence[ModelSummary], base: str = "") -> str:
    """The overview: every model with its latest status and a strip of its recent windows."""
    rows = []
    for s in models:
        name = f'<a href="{escape(dashboard_url(base, s.model))}"><b>{escape(s.model)}</b></a>'
        desc = f'<div class="muted">{escape(s.description)}</div>' if s.description else ""
        if s.error:
            rows.append(f'<tr><td>{name}{desc}</td><td colspan="6">{escape(s.error)}</td></tr>')
            continue
        w = s.latest
        if w is None:
            rows.append(
                f'<tr><td>{name}{desc}</td><td colspan="6" class="muted">No window monitored yet: trigger '
                f"<code>{escape(baseline_dag_id(s.model))}</code>, then unpause "
                f"<code>{escape(monitor_dag_id(s.model))}</code>.</td></tr>"
            )
            continue
        rows.append(
            f"<tr><td>{name}{desc}</td><td>{_badge(w.status)}</td>"
            f"<td>{escape(_when(w.start))} → {escape(_when(w.end))}</td>"
            f'<td class="num">{w.rows:,}</td><td>{escape(w.message)}</td><td>{_strip(s.model, s.recent, base)}</td>'
            f"<td>{_link(w.docs_href, 'Data Docs')} · {_link(w.run_href, 'Airflow run')}</td></tr>"
        )
    table = (
        "<table><thead><tr><th>model</th><th>latest status</th><th>latest window (UTC)</th><th>rows</th>"
        "<th>findings</th><th>recent windows (oldest → newest)</th><th>evidence</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
    )
    if not models:
        table = '<p class="muted">No model configured: add a YAML file to the models folder (see README).</p>'
    return _page("ML Monitoring", f"<h2>Models</h2>{_status_legend()}{table}", base)


def _figure(chart: Chart) -> str:
    sub = f"<small>{escape(chart.subtitle)}</small>" if chart.subtitle else ""
    return f"<figure><figcaption>{escape(chart.title)}{sub}</figcaption>{render(chart)}{legend(chart)}</figure>"


def _windows_table(windows: Sequence[WindowView]) -> str:
    rows = [
        f'<tr id="w-{w.start:%Y%m%d%H%M}"><td>{escape(_when(w.start))} → {escape(_when(w.end))}</td>'
        f'<td>{_badge(w.status)}</td><td class="num">{w.rows:,}</td>'
        f"<td>{escape(', '.join(f'{v} ({n:,})' for v, n in sorted(w.versions.items())))}</td>"
        f"<td>{escape(', '.join(w.failed_expectations)) or '<span class=muted>none</span>'}</td>"
        f"<td>{escape(', '.join(w.drifted_columns)) or '<span class=muted>none</span>'}</td>"
        f"<td>{_link(w.docs_href, 'Data Docs')}<br>{_link(w.run_href, 'Airflow run')}</td></tr>"
        for w in windows
    ]
    return (
        "<table><thead><tr><th>window (UTC)</th><th>status</th><th>rows</th><th>model versions (rows)</th>"
        "<th>failed expectations</th><th>drifted columns</th><th>evidence</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
    )


def render_model(view: ModelView, base: str = "") -> str:
    """A model's page: latest status, trend charts by section, then every window with its evidence."""
    latest = view.windows[0] if view.windows else None
    head = f"<h2>Model {escape(view.model)} {_badge(latest.status) if latest else ''}</h2>"
    if view.description:
        head += f'<p class="hint">{escape(view.description)}</p>'
    if latest is None:
        body = head + '<p class="muted">No window monitored yet.</p>'
        return _page(f"{view.model} · ML Monitoring", body, base)
    counts: dict[str, int] = defaultdict(int)
    for w in view.windows:
        counts[w.status] += 1
    head += (
        f'<p class="hint">Latest window {escape(_when(latest.start))} → {escape(_when(latest.end))} UTC: '
        f"{escape(latest.message)}. {len(view.windows)} windows: "
        + ", ".join(f"{n} {escape(STATUS_TEXT.get(s, s))}" for s, n in sorted(counts.items()))
        + ".</p>"
        + _strip(view.model, tuple(reversed(view.windows)), base)
        + _status_legend()
    )
    sections = "".join(
        f'<h2>{escape(title)}</h2><p class="hint">{escape(hint)}</p><div class="grid">'
        + "".join(_figure(c) for c in charts)
        + "</div>"
        for title, hint, charts in view.sections
        if charts
    )
    body = head + sections + "<h2>Windows</h2>" + _windows_table(view.windows)
    return _page(f"{view.model} · ML Monitoring", body, base)


def render_message(title: str, text: str, base: str = "") -> str:
    """A plain page for 'nothing here' answers (unknown model, run without Data Docs)."""
    return _page(title, f"<h2>{escape(title)}</h2><p>{escape(text)}</p>", base)
