"""The monitoring dashboard: result rows shaped into views and rendered as pages.

Pages: every model (`render_index`), one model over time (`render_model`), one window
(`render_window`), a window's Data Docs with its failures first (`render_docs`) and plain messages
(`render_message`). Everywhere a status shows, its reasons (`findings.Finding`) show with it, each
with since which window it holds. Pure functions over the rows of `mlmonitor_runs` /
`mlmonitor_metrics` (as `storage.results` reads them); the Airflow plugin only fetches rows and
serves the strings. Metric details are read defensively: checks add keys and rows over time.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from html import escape
from typing import Any

from sqlalchemy.engine import Engine

from mlmonitor.checks.drift import NULL_RATE_METRIC
from mlmonitor.names import baseline_dag_id, labels_dag_id, monitor_dag_id
from mlmonitor.storage.mutes import Mute, check_and_column, for_window
from mlmonitor.storage.mutes import active as active_mutes
from mlmonitor.storage.results import read_details, read_metrics, read_runs
from mlmonitor.ui import trends
from mlmonitor.ui.findings import (
    Episode,
    Finding,
    Health,
    details_of,
    drift_finding,
    episodes,
    findings_by_window,
    fmt,
    new_versions,
    num,
    pct,
    unhealthy_streak,
    versions_of,
)
from mlmonitor.ui.html import (
    STATUS_TEXT,
    Cell,
    Shell,
    badge,
    bars_figure,
    day,
    episodes_list,
    figure,
    findings_list,
    link,
    page,
    since_text,
    status_legend,
    strip,
    when,
)
from mlmonitor.ui.links import airflow_run_url, dashboard_url, window_docs_url, window_url
from mlmonitor.ui.svgchart import sparkline
from mlmonitor.window import as_utc

Row = Mapping[str, Any]
STRIP_WINDOWS = 120
WINDOWS_SHOWN = 366  # windows on a model page (a year of a daily model, 15 days of an hourly one)
OVERVIEW_WINDOWS = 60  # windows of a model on the overview (its strip and earlier incidents)
STREAK_WINDOWS = 60  # windows read before a window to date its findings ("since when")
# the rows a model page draws when they are ok (every row that is not ok is read: it is a finding)
CHARTED: dict[str, tuple[str, ...] | None] = {
    "drift": None,
    "stats": ("mean", "std"),
    "performance": None,
    "health": ("p50", "p95", "p99", "rows", "version_change"),
}
# the ok rows the overview reads: a version's first window is marked there too
OVERVIEW_OK_ROWS: dict[str, tuple[str, ...] | None] = {"health": ("version_change",)}


@dataclass(frozen=True, kw_only=True)
class WindowView:
    """One monitored window as the dashboard shows it: its status, why, and its evidence."""

    model: str
    start: dt.datetime
    end: dt.datetime
    status: str
    monitor_status: str | None  # what the monitor run said (differs after a re-score found a regression)
    rescored_at: dt.datetime | None
    computed_at: dt.datetime | None
    rows: int
    versions: dict[str, int]
    findings: tuple[Finding, ...]
    message: str
    href: str  # the window's page on the dashboard
    docs_path: str | None  # its Great Expectations page, relative to the Data Docs site
    docs_href: str | None  # its Data Docs inside the dashboard, failures first
    run_href: str | None  # the Airflow run that wrote it
    new_versions: tuple[str, ...] = ()  # versions this window served first (marked on every page)

    @property
    def changed_later(self) -> bool:
        return bool(self.monitor_status) and self.monitor_status != self.status


def finding_scope(f: Finding) -> tuple[str, str]:
    """(check, column) of a finding, as mutes name them."""
    if f.key.startswith("drift("):
        return "drift", f.column
    if f.key == "versions":
        return "health", ""
    if f.key == "performance":
        return "performance", ""
    return check_and_column(f.key)


def with_mutes(findings: Sequence[Finding], start: dt.datetime, found: Sequence[Mute]) -> tuple[Finding, ...]:
    """The window's findings, those a mute or acknowledgement silences marked as muted."""
    active = for_window(found, as_utc(start))
    if not active:
        return tuple(findings)
    out = []
    for f in findings:
        scope = finding_scope(f)
        # a finding of one row is keyed by its label (an acknowledgement matches that exactly); the
        # drift of a column, the versions and the quality finding gather several rows (their scope)
        label = None if f.key.startswith("drift(") or f.key in {"versions", "performance"} else f.key
        muted = "; ".join(m.describe() for m in active if m.covers(*scope, label))  # newest first
        out.append(replace(f, muted=muted) if muted else f)
    return tuple(out)


def window_views(
    model: str, runs: Sequence[Row], metrics: Sequence[Row], base: str = "", mutes: Sequence[Mute] = ()
) -> list[WindowView]:
    """Run rows with the reasons for their status (and since when, and whether muted), newest first."""
    found = findings_by_window(runs, metrics)
    first = new_versions(metrics)
    out = []
    for r in sorted(runs, key=lambda r: r["window_start"], reverse=True):
        start = r["window_start"]
        out.append(
            WindowView(
                model=model,
                start=start,
                end=r["window_end"],
                status=str(r["status"]),
                monitor_status=r.get("monitor_status"),
                rescored_at=r.get("rescored_at"),
                computed_at=r.get("computed_at"),
                rows=int(r["rows"] or 0),
                versions=versions_of(r),
                findings=with_mutes(found.get(start, []), start, mutes),
                message=str(r.get("message") or ""),
                href=window_url(base, model, start),
                docs_path=r.get("docs_path") or None,
                docs_href=window_docs_url(base, model, start) if r.get("docs_path") else None,
                run_href=airflow_run_url(base, monitor_dag_id(model), r["airflow_run_id"])
                if r.get("airflow_run_id")
                else None,
                new_versions=first.get(start, ()),
            )
        )
    return out


def _cell(w: WindowView) -> Cell:
    reasons = "\n".join(f"• {f.title}" for f in w.findings[:4]) + (
        f"\n+ {len(w.findings) - 4} more" if len(w.findings) > 4 else ""
    )
    head = f"{when(w.start)} UTC: {STATUS_TEXT.get(w.status, w.status)}" + (
        f"\nfirst window of {', '.join(w.new_versions)}" if w.new_versions else ""
    )
    return Cell(start=w.start, status=w.status, href=w.href, tip=head + (f"\n{reasons}" if reasons else ""))


def _updated(windows: Sequence[WindowView]) -> str:
    stamps = [t for w in windows for t in (w.computed_at, w.rescored_at) if t is not None]
    return f"results updated {when(max(stamps))} UTC" if stamps else ""


def _versions_text(versions: Mapping[str, int]) -> str:
    """The versions served, by share when there are several: `1.1.0`, `1.0.0 50% · 1.1.0 50%`."""
    total = sum(versions.values()) or 1
    ranked = sorted(versions.items(), key=lambda kv: (-kv[1], kv[0]))
    if len(ranked) == 1:
        return ranked[0][0]
    return " · ".join(f"{v} {100 * n / total:.0f}%" for v, n in ranked) or "–"


def _versions_html(w: WindowView) -> str:
    """The versions served, with the versions this window served first marked."""
    text = escape(_versions_text(w.versions))
    if not w.new_versions:
        return text
    new = escape(", ".join(w.new_versions))
    return f'{text} <mark class="new-version" title="first window of {new}">new: {new}</mark>'


def _window_title(w: WindowView) -> str:
    return f"{when(w.start)} → {when(w.end)} UTC"


def _evidence(w: WindowView, *, details: bool = True) -> str:
    links = (
        link(w.href, "window details") if details else "",
        link(w.docs_href, "Data Docs (failures first)"),
        link(w.run_href, "Airflow run", airflow=True),
    )
    return " · ".join(x for x in links if x)


# ---------------------------------------------------------------- reading what a page shows, bounded in SQL


def _parsed(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows with their details parsed once (pages read them many times)."""
    for row in rows:
        row["details"] = details_of(row)
    return rows


def _with_drift_counts(engine: Engine, model: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Fill in the details (the stored counts) of each column's distribution row in the newest window
    where the column drifted, which a read of flagged details leaves out when only its NULL share drifted."""
    newest: dict[str, dt.datetime] = {}
    for m in rows:
        if m["check_name"] == "drift" and m.get("column_name") and m.get("status") not in (None, "ok"):
            newest[m["column_name"]] = max(newest.get(m["column_name"], m["window_start"]), m["window_start"])
    wanted = {
        (m["window_start"], m["check_name"], m["column_name"], m["metric"]): m
        for m in rows
        if m["check_name"] == "drift"
        and m.get("column_name") in newest
        and m["window_start"] == newest[m["column_name"]]
        and m["metric"] != NULL_RATE_METRIC
        and not m.get("details")
    }
    for key, details in read_details(engine, model, list(wanted)).items():
        wanted[key]["details"] = details
    return rows


def load_summary(engine: Engine, model: str, description: str, base: str = "") -> ModelSummary:
    """A model's overview line from its newest `OVERVIEW_WINDOWS` windows and their flagged metric rows."""
    runs = read_runs(engine, model, limit=OVERVIEW_WINDOWS)
    oldest = min((r["window_start"] for r in runs), default=None)
    metrics = (
        read_metrics(engine, model, since=oldest, flagged_details=True, ok_rows=OVERVIEW_OK_ROWS)
        if oldest is not None
        else []
    )
    silenced = _mutes(engine, model, oldest)
    return model_summary(model, description, window_views(model, runs, _parsed(metrics), base, silenced), runs)


def _mutes(engine: Engine, model: str, oldest: dt.datetime | None) -> list[Mute]:
    """The mutes that reach into the windows shown (none when no window is)."""
    return active_mutes(engine, model, as_utc(oldest)) if oldest is not None else []


def load_model(
    engine: Engine,
    model: str,
    description: str,
    *,
    windows: int = WINDOWS_SHOWN,
    has_labels: bool = False,
    base: str = "",
) -> ModelView:
    """A model's page from its newest `windows` windows: range reads on the primary keys, the details of
    flagged rows only (and of the rows its distribution charts draw)."""
    runs = read_runs(engine, model, limit=windows)
    oldest = min((r["window_start"] for r in runs), default=None)
    metrics = (
        read_metrics(engine, model, since=oldest, flagged_details=True, ok_rows=CHARTED) if oldest is not None else []
    )
    metrics = _parsed(_with_drift_counts(engine, model, metrics))
    silenced = _mutes(engine, model, oldest)
    return model_view(model, description, runs, metrics, base, has_labels=has_labels, mutes=silenced)


def load_window(
    engine: Engine, model: str, start: dt.datetime, *, description: str = "", base: str = ""
) -> WindowPage | None:
    """A window (all its rows), the `STREAK_WINDOWS` windows before it (to date its findings; flagged rows'
    details) and the next one."""
    after = start + dt.timedelta(seconds=1)
    runs = read_runs(engine, model, limit=STREAK_WINDOWS, before=after)
    runs += read_runs(engine, model, limit=1, since=after, oldest_first=True)
    oldest = min((r["window_start"] for r in runs), default=start)
    until = start - dt.timedelta(seconds=1)
    before = read_metrics(engine, model, since=oldest, until=until, flagged_details=True, ok_rows=OVERVIEW_OK_ROWS)
    metrics = _parsed(before + read_metrics(engine, model, start))
    return window_page(model, runs, metrics, start, base, description, mutes=_mutes(engine, model, start))


# ---------------------------------------------------------------- the overview


@dataclass(frozen=True, kw_only=True)
class ModelSummary:
    """A model on the overview: its latest window, since when it is unhealthy, its recent windows."""

    model: str
    description: str
    latest: WindowView | None
    recent: tuple[WindowView, ...] = ()  # oldest first
    health: Health = field(default_factory=lambda: Health(since=None, windows=0, open_ended=False))
    error: str | None = None

    @property
    def earlier(self) -> list[Episode]:
        """What went wrong in the recent windows and is over (the latest window's reasons show apart)."""
        return [e for e in episodes({w.start: w.findings for w in self.recent}) if not e.ongoing]


def model_summary(
    model: str,
    description: str,
    windows: Sequence[WindowView],
    runs: Sequence[Row] = (),
    recent: int = OVERVIEW_WINDOWS,
) -> ModelSummary:
    """The overview line of a model from its windows (newest first) and their run rows."""
    return ModelSummary(
        model=model,
        description=description,
        latest=windows[0] if windows else None,
        recent=tuple(reversed(windows[:recent])),
        health=unhealthy_streak(runs),
    )


def _model_card(s: ModelSummary, base: str) -> str:
    name = f'<a class="model-name" href="{escape(dashboard_url(base, s.model))}">{escape(s.model)}</a>'
    desc = f'<p class="muted">{escape(s.description)}</p>' if s.description else ""
    if s.error:
        return f'<article class="model">{name}{desc}<p class="problem">{escape(s.error)}</p></article>'
    w = s.latest
    if w is None:
        return (
            f'<article class="model"><header>{name}</header>{desc}<p class="muted">No window monitored yet: '
            f"trigger <code>{escape(baseline_dag_id(s.model))}</code>, then unpause "
            f"<code>{escape(monitor_dag_id(s.model))}</code>.</p></article>"
        )
    health = f'<span class="health">{escape(s.health.text())}</span>'
    facts = f"Latest window {escape(_window_title(w))} · {w.rows:,} rows · versions {_versions_html(w)}"
    return (
        f'<article class="model st-edge-{escape(w.status)}"><header>{name} {badge(w.status, was=w.monitor_status)} '
        f"{health}</header>{desc}<p class=facts>{facts}</p>"
        f"{findings_list(w.findings, limit=6, more_href=w.href)}"
        f"{episodes_list(s.earlier, 'Earlier in the last windows', limit=12, more_href=dashboard_url(base, s.model))}"
        f"{strip([_cell(x) for x in s.recent], label=f'recent windows of {s.model}, oldest first')}"
        f'<p class="evidence">{_evidence(w)}</p></article>'
    )


def render_index(models: Sequence[ModelSummary], shell: Shell | None = None) -> str:
    """The overview: every model with its latest status, why, since when, and its recent windows."""
    shell = shell or Shell()
    if not models:
        body = '<p class="muted">No model configured: add a YAML file to the models folder (see README).</p>'
    else:
        order = {"error": 0, "alert": 1, "warning": 2, "no_data": 3, "ok": 4}
        ranked = sorted(
            models, key=lambda s: (order.get(s.latest.status, 5) if s.latest else 6 if not s.error else 0, s.model)
        )
        body = '<div class="models">' + "".join(_model_card(s, shell.base) for s in ranked) + "</div>"
    stamps = [w for s in models for w in ((s.latest,) if s.latest else ())]
    return page(
        "ML Monitoring",
        f"<h1>Models</h1>{status_legend()}{body}",
        shell,
        updated=_updated(stamps),
    )


# ---------------------------------------------------------------- one model


@dataclass(frozen=True, kw_only=True)
class ModelView:
    """A model's page: its windows (newest first), since when it is unhealthy, and its charts."""

    model: str
    description: str
    windows: tuple[WindowView, ...]
    health: Health
    drift: tuple[trends.ColumnDrift, ...]
    prediction: tuple[Any, ...]
    quality: trends.Quality | None
    operations: tuple[Any, ...]
    has_labels: bool = False


def model_view(
    model: str,
    description: str,
    runs: Sequence[Row],
    metrics: Sequence[Row],
    base: str = "",
    *,
    has_labels: bool = False,
    mutes: Sequence[Mute] = (),
) -> ModelView:
    return ModelView(
        model=model,
        description=description,
        windows=tuple(window_views(model, runs, metrics, base, mutes)),
        health=unhealthy_streak(runs),
        drift=tuple(trends.column_drift(metrics)),
        prediction=tuple(trends.prediction_charts(metrics)),
        quality=trends.quality(metrics),
        operations=tuple(trends.operations_charts(runs, metrics)),
        has_labels=has_labels,
    )


def _drift_section(view: ModelView) -> str:
    drifted = [c for c in view.drift if c.drifted]
    stable = [c for c in view.drift if not c.drifted]
    if not view.drift:
        return ""
    cards = []
    for c in drifted:
        parts = [figure(c.chart)]
        if c.latest_drifted is not None:
            bars = trends.distribution(c.column, c.latest_drifted)
            if bars is not None:
                what = drift_finding(c.column, c.latest_drifted_rows).detail
                parts.append(bars_figure(bars, caption=f"What moved in {c.column} (latest drifted window)", note=what))
        cards.append(f'<div class="col-card" id="col-{escape(c.column)}">{"".join(parts)}</div>')
    table = ""
    if stable:
        rows = ""
        for c in stable:
            value, limit = (num(c.latest.get(k)) if c.latest else None for k in ("value", "threshold"))
            rows += (
                f"<tr><td><b>{escape(c.column)}</b></td><td>{escape(c.kind or '–')}</td>"
                f'<td>{escape(c.method_label)}</td><td class="num">{fmt(value)}</td><td class="num">{fmt(limit)}</td>'
                f"<td>{sparkline(f'spark-{c.column}', c.score, limit)}</td></tr>"
            )
        table = (
            f"<h3>No drift in the windows shown ({len(stable)} columns)</h3>"
            '<div class="table-wrap"><table class="compact"><thead><tr><th>column</th><th>kind</th><th>measure</th>'
            '<th class="num">latest</th><th class="num">threshold</th><th>trend</th></tr></thead>'
            f"<tbody>{rows}</tbody></table></div>"
        )
    hint = (
        "Each drifted column: its drift score per window (the distribution's measure and the change of its NULL "
        "share, each against its dashed threshold) and what moved between training and its latest drifted window. "
        "A window drifts when a score passes its threshold and the change is significant after correction "
        "across all columns of the window."
    )
    return (
        f'<section id="drift"><h2>Drift</h2><p class="hint">{escape(hint)}</p>'
        f'<div class="cards">{"".join(cards) or "<p class=muted>No column drifted in the windows shown.</p>"}</div>'
        f"{table}</section>"
    )


def _quality_section(view: ModelView) -> str:
    q = view.quality
    if q is None:
        if not view.has_labels:
            return (
                '<section id="quality"><h2>Quality</h2><p class="muted">No labels configured: add a '
                "<code>labels:</code> section to the model YAML to score predictions as their ground truth arrives."
                "</p></section>"
            )
        return '<section id="quality"><h2>Quality</h2><p class="muted">No quality rows yet.</p></section>'
    figs = [figure(c) for c in q.charts]
    if q.coverage is not None:
        figs.append(figure(q.coverage))
    others = ""
    if q.others:
        rows = "".join(
            f"<tr><td>{escape(metric.replace('_', ' '))}</td><td class=num>{fmt(num(last.get('value')))}</td>"
            f"<td class=num>{fmt(num(last.get('threshold')))}</td><td>{sparkline(f'spark-{metric}', score)}</td></tr>"
            for metric, last, score in q.others
        )
        others = (
            '<h3>Other quality metrics</h3><div class="table-wrap"><table class="compact"><thead><tr><th>metric</th>'
            f'<th class="num">latest</th><th class="num">alert limit</th><th>trend</th></tr></thead><tbody>{rows}'
            "</tbody></table></div>"
        )
    if q.estimated:
        estimated = "<h3>Estimated quality (before labels arrive)</h3><div class=grid>" + "".join(
            figure(c) for c in q.estimated
        )
        estimated += "</div>"
    else:
        estimated = (
            '<h3>Estimated quality (before labels arrive)</h3><p class="muted">No estimated metrics stored for this '
            "model: realized quality shows once labels arrive (above).</p>"
        )
    hint = (
        "Realized quality of each window with the labels arrived so far, against its baseline (training, or "
        "labels.expected) and its alert limit. Labels arrive late: the labels DAG "
        f"({labels_dag_id(view.model)}) re-scores recent windows, and a window whose quality regressed turns alert."
    )
    return (
        f'<section id="quality"><h2>Quality</h2><p class="hint">{escape(hint)}</p>'
        f'<div class="grid">{"".join(figs)}</div>{others}{estimated}</section>'
    )


WINDOWS_OPEN = 30  # newest windows listed open on a model page; older ones fold


def _window_row(w: WindowView) -> str:
    reasons = (
        "<ul class=reasons>"
        + "".join(
            f'<li tabindex="0" data-tip="{escape(f.title)}: {escape(f.detail)}\n{escape(since_text(f))}">'
            f'<span class="dot st-{escape(f.status)}"></span>{escape(f.title)}</li>'
            for f in w.findings
        )
        + "</ul>"
        if w.findings
        else '<span class="muted">every check passed</span>'
    )
    return (
        f'<tr id="w-{w.start:%Y%m%d%H%M}"><td data-label="window">'
        f'<a href="{escape(w.href)}">{escape(day(w.start))}</a></td>'
        f"<td data-label=status>{badge(w.status, was=w.monitor_status)}</td>"
        f'<td class="num" data-label="rows">{w.rows:,}</td>'
        f"<td data-label=versions>{_versions_html(w)}</td>"
        f"<td data-label=why>{reasons}</td><td data-label=evidence>{link(w.docs_href, 'Data Docs')} · "
        f"{link(w.run_href, 'Airflow run', airflow=True)}</td></tr>"
    )


def _windows_table(windows: Sequence[WindowView]) -> str:
    """Every window, newest first: status, volume, versions, its reasons (hover or focus one for what was
    observed and since when; the window's page has everything) and its evidence. The newest
    `WINDOWS_OPEN` are listed, the older ones fold."""
    head = (
        '<thead><tr><th>window (UTC)</th><th>status</th><th class="num">rows</th><th>versions</th>'
        "<th>why</th><th>evidence</th></tr></thead>"
    )
    table = f'<div class="table-wrap"><table class="windows">{head}<tbody>'
    out = table + "".join(_window_row(w) for w in windows[:WINDOWS_OPEN]) + "</tbody></table></div>"
    older = windows[WINDOWS_OPEN:]
    if older:
        out += (
            f'<details class="older"><summary>{len(older)} older windows</summary>{table}'
            + "".join(_window_row(w) for w in older)
            + "</tbody></table></div></details>"
        )
    return out


def render_model(view: ModelView, shell: Shell | None = None) -> str:
    """A model's page: status and since when, why (latest window), drift, prediction, quality, operations,
    then every window with its reasons and evidence."""
    shell = shell or Shell()
    latest = view.windows[0] if view.windows else None
    title = f"{view.model} · ML Monitoring"
    crumbs = ((view.model, None),)
    head = f"<h1>{escape(view.model)} {badge(latest.status, was=latest.monitor_status) if latest else ''}</h1>"
    if view.description:
        head += f'<p class="hint">{escape(view.description)}</p>'
    if latest is None:
        return page(title, head + '<p class="muted">No window monitored yet.</p>', shell, crumbs=crumbs)
    counts: dict[str, int] = {}
    for w in view.windows:
        counts[w.status] = counts.get(w.status, 0) + 1
    tally = ", ".join(f"{n} {STATUS_TEXT.get(s, s)}" for s, n in sorted(counts.items()))
    cells = [_cell(w) for w in reversed(view.windows[:STRIP_WINDOWS])]
    head += (
        f'<p class="health-line"><span class="health">{escape(view.health.text())}</span> · '
        f"{len(view.windows)} windows shown: {escape(tally)}</p>"
        + strip(cells, label=f"windows of {view.model}, oldest first")
    )
    why = (
        f'<section id="why"><h2>Why: latest window {escape(_window_title(latest))}</h2>'
        f'<p class="facts">{latest.rows:,} rows · versions {_versions_html(latest)}'
        f"{_changed(latest)}</p>{findings_list(latest.findings)}<p class=evidence>{_evidence(latest)}</p></section>"
    )
    earlier = [e for e in episodes({w.start: w.findings for w in view.windows}) if not e.ongoing]
    incidents = episodes_list(earlier, f"Earlier incidents in the {len(view.windows)} windows shown")
    why += f'<section id="incidents">{incidents}</section>' if incidents else ""
    toc = (
        '<nav class="toc" aria-label="sections"><a href="#drift">Drift</a><a href="#prediction">Prediction</a>'
        '<a href="#quality">Quality</a><a href="#operations">Volume and latency</a><a href="#windows">Windows</a></nav>'
    )
    prediction = (
        '<section id="prediction"><h2>Prediction</h2><p class="hint">Statistics of the model output per window '
        'against the training data.</p><div class="grid">'
        + "".join(figure(c) for c in view.prediction)
        + "</div></section>"
    )
    operations = (
        '<section id="operations"><h2>Volume and latency</h2><p class="hint">Traffic and serving latency per '
        'window.</p><div class="grid">' + "".join(figure(c) for c in view.operations) + "</div></section>"
    )
    windows = f'<section id="windows"><h2>Windows</h2>{_windows_table(view.windows)}</section>'
    body = head + why + toc + _drift_section(view) + prediction + _quality_section(view) + operations + windows
    return page(title, body, shell, crumbs=crumbs, updated=_updated(view.windows))


def _changed(w: WindowView) -> str:
    if not w.changed_later:
        return ""
    found = f" on {when(w.rescored_at)} UTC" if w.rescored_at else ""
    return (
        f" · <b>status changed</b> from {escape(STATUS_TEXT.get(str(w.monitor_status), str(w.monitor_status)))} to "
        f"{escape(STATUS_TEXT.get(w.status, w.status))} when the labels DAG re-scored it{escape(found)}"
    )


# ---------------------------------------------------------------- one window


@dataclass(frozen=True, kw_only=True)
class WindowPage:
    """One window with its neighbours, its metric rows and whether the model has labels."""

    view: WindowView
    metrics: tuple[Row, ...]
    previous: str | None = None  # URL of the window before
    following: str | None = None
    description: str = ""


def window_page(
    model: str,
    runs: Sequence[Row],
    metrics: Sequence[Row],
    start: dt.datetime,
    base: str = "",
    description: str = "",
    *,
    mutes: Sequence[Mute] = (),
) -> WindowPage | None:
    """The window starting at `start` among `runs` (the windows around it: the streaks of its findings
    reach back over the ones before it), or None when it was not monitored."""
    views = window_views(model, runs, metrics, base, mutes)  # newest first
    index = next((i for i, v in enumerate(views) if v.start == start), None)
    if index is None:
        return None
    return WindowPage(
        view=views[index],
        metrics=tuple(m for m in metrics if m["window_start"] == start),
        previous=views[index + 1].href if index + 1 < len(views) else None,
        following=views[index - 1].href if index > 0 else None,
        description=description,
    )


def render_window(wp: WindowPage, shell: Shell | None = None) -> str:
    """A window: status (and whether the labels DAG changed it), why, what moved, quality, evidence."""
    shell = shell or Shell()
    w = wp.view
    nav = (
        '<nav class="pager">'
        + (link(wp.previous, "← previous window") if wp.previous else "")
        + link(dashboard_url(shell.base, w.model), "all windows of " + w.model)
        + (link(wp.following, "next window →") if wp.following else "")
        + "</nav>"
    )
    head = (
        f"<h1>{escape(w.model)}: window {escape(_window_title(w))} {badge(w.status, was=w.monitor_status)}</h1>"
        f'<p class="facts">{w.rows:,} rows · versions {_versions_html(w)} · monitored '
        f"{escape(when(w.computed_at))} UTC{_changed(w)}</p>{nav}"
    )
    why = f'<section id="why"><h2>Why</h2>{findings_list(w.findings)}</section>'
    moved_parts = []
    for f in w.findings:
        if f.topic != "drift" or not f.column:
            continue
        rows = [m for m in wp.metrics if m["check_name"] == "drift" and m.get("column_name") == f.column]
        dist = next((m for m in rows if m["metric"] != NULL_RATE_METRIC), None)
        bars = trends.distribution(f.column, dist) if dist is not None else None
        if bars is not None:
            moved_parts.append(bars_figure(bars, caption=f"What moved in {f.column}", note=f.detail))
    what_moved = (
        f'<section id="moved"><h2>What moved</h2><div class="grid">{"".join(moved_parts)}</div></section>'
        if moved_parts
        else ""
    )
    quality = _window_quality(wp.metrics, w)
    evidence = (
        f'<section id="evidence"><h2>Evidence</h2><p class="evidence">{_evidence(w, details=False)}</p></section>'
    )
    crumbs = ((w.model, dashboard_url(shell.base, w.model)), (f"window {day(w.start)}", None))
    body = head + why + what_moved + quality + evidence
    return page(f"{w.model} {day(w.start)} · ML Monitoring", body, shell, crumbs=crumbs, updated=_updated((w,)))


def _window_quality(metrics: Sequence[Row], w: WindowView) -> str:
    rows = sorted((m for m in metrics if m["check_name"] == "performance"), key=lambda m: str(m["metric"]))
    if not rows:
        return ""
    body = []
    for m in rows:
        d = details_of(m)
        value = pct(m.get("value")) if m["metric"] == "label_coverage" else fmt(m.get("value"))
        labelled = d.get("labeled", "")
        body.append(
            f"<tr><td>{escape(str(m['metric']).replace('_', ' '))}</td><td class=num>{escape(value)}</td>"
            f"<td class=num>{fmt(d.get('baseline'))}</td><td class=num>{fmt(m.get('threshold'))}</td>"
            f"<td class=num>{escape(str(labelled))}</td><td>{badge(str(m['status']))}"
            f" {escape(str(d.get('note', '')))}</td></tr>"
        )
    when_scored = (
        f"re-scored by the labels DAG on {when(w.rescored_at)} UTC" if w.rescored_at else "scored by the monitor run"
    )
    return (
        f'<section id="quality"><h2>Quality</h2><p class="hint">With the labels arrived so far ({escape(when_scored)}).'
        '</p><div class="table-wrap"><table class="compact"><thead><tr><th>metric</th><th class="num">value</th>'
        '<th class="num">baseline</th><th class="num">alert limit</th><th class="num">labels</th><th>status</th>'
        f"</tr></thead><tbody>{''.join(body)}</tbody></table></div></section>"
    )


# ---------------------------------------------------------------- Data Docs of a window, failures first


def render_docs(w: WindowView, frame_src: str, shell: Shell | None = None) -> str:
    """A window's Great Expectations page inside the dashboard: its failed expectations first (observed vs
    expected), a way back to the window, then the page itself in a sandboxed frame (an opaque origin)."""
    shell = shell or Shell()
    failed = [f for f in w.findings if f.topic == "failed expectation"]
    lead = (
        f"<h2>Failed expectations ({len(failed)})</h2>{findings_list(failed)}"
        if failed
        else '<p class="ok-line">Every expectation passed in this window.</p>'
    )
    others = [f for f in w.findings if f.topic != "failed expectation"]
    also = (
        f'<p class="hint">Also in this window: {escape(", ".join(f.title for f in others[:6]))}'
        f"{' …' if len(others) > 6 else ''} ({link(w.href, 'all reasons')}).</p>"
        if others
        else ""
    )
    head = (
        f"<h1>Data Docs: {escape(w.model)} window {escape(_window_title(w))} {badge(w.status)}</h1>"
        f'<p class="back">{link(w.href, "← back to the window on the dashboard")} · '
        f"{link(dashboard_url(shell.base, w.model), 'model ' + w.model)}</p>"
    )
    frame = (
        f'<iframe class="docs" data-src="{escape(frame_src)}" title="Great Expectations validation result" '
        'sandbox="allow-scripts allow-popups allow-popups-to-escape-sandbox" referrerpolicy="no-referrer"></iframe>'
        f'<noscript><a href="{escape(frame_src)}">Open the Great Expectations page</a></noscript>'
    )
    crumbs = (
        (w.model, dashboard_url(shell.base, w.model)),
        (f"window {day(w.start)}", w.href),
        ("Data Docs", None),
    )
    return page(f"Data Docs {w.model} {day(w.start)}", head + lead + also + frame, shell, crumbs=crumbs)


def render_message(title: str, text: str, shell: Shell | None = None, *, where: tuple[str, str] | None = None) -> str:
    """A plain page for 'nothing here' answers (unknown model, a run without Data Docs, another DAG), with
    a link to where to look instead (`where`: text and URL; default: the dashboard)."""
    shell = shell or Shell()
    label, href = where or ("Open the monitoring dashboard", shell.dashboard)
    body = f'<div class="message"><h1>{escape(title)}</h1><p>{escape(text)}</p><p>{link(href, label)}</p></div>'
    return page(title, body, shell)
