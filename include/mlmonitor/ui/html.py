"""HTML building blocks of the dashboard pages: the page shell (Airflow's look in light and dark),
status badges, dated strips of windows, findings lists and chart figures. Every text is escaped.

The pages load one stylesheet and one script from the plugin (`static_base`/ui/...): the script
follows Airflow's theme (the host page's `<html class="light|dark">` when embedded in Airflow's shell,
else Airflow's stored choice `localStorage.theme`, else the system's), copies Airflow's colours and
font when it can read them, shows chart tooltips and opens Airflow links in the shell. Nothing is
loaded from the internet and no inline script or style is needed (the pages' CSP forbids both).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from mlmonitor.checks.registry import status_meanings
from mlmonitor.ui.findings import Episode, Finding
from mlmonitor.ui.svgchart import Bars, Chart, bars_legend, legend, render, render_bars

STATUS_TEXT = {"ok": "ok", "warning": "warning", "alert": "alert", "no_data": "no data", "error": "error"}

# Sent with every dashboard page: only the plugin's own script and stylesheet run; the page may be
# framed by Airflow (same origin) only; Data Docs frames come from the same server.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self' data:; "
    "connect-src 'self'; frame-src 'self'; frame-ancestors 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'"
)


@dataclass(frozen=True, kw_only=True)
class Shell:
    """Where a page lives: the plugin's URLs and, when opened on its own, the same page in Airflow's shell."""

    base: str = ""  # the path of [api] base_url
    static: str = "/mlmonitor/static"
    dashboard: str = "/mlmonitor/"
    docs_index: str = "/mlmonitor/docs/index.html"
    metrics: str = "/mlmonitor/metrics"
    in_shell: str | None = None  # the Airflow shell URL of this page (opened there when loaded on its own)
    now: dt.datetime | None = None  # when the page was made (UTC)


def when(at: dt.datetime | None) -> str:
    return at.strftime("%Y-%m-%d %H:%M") if at else "n/a"


def day(at: dt.datetime) -> str:
    return at.strftime("%Y-%m-%d") if (at.hour, at.minute) == (0, 0) else at.strftime("%Y-%m-%d %H:%M")


def link(href: str | None, text: str, *, airflow: bool = False, cls: str = "") -> str:
    """A link; `airflow` links open in Airflow's shell (the host page navigates) when the page is embedded."""
    if not href:
        return '<span class="muted">–</span>'
    attrs = ' data-airflow="1"' if airflow else ""
    attrs += f' class="{cls}"' if cls else ""
    return f'<a href="{escape(href)}"{attrs}>{escape(text)}</a>'


def badge(status: str, *, was: str | None = None) -> str:
    meaning = "; ".join(status_meanings().get(status, []))  # type: ignore[call-overload]
    text = STATUS_TEXT.get(status, status)
    out = f'<span class="badge st-{escape(status)}" title="{escape(meaning)}">{escape(text)}</span>'
    if was and was != status:
        out += f' <span class="was">was {escape(STATUS_TEXT.get(was, was))} when monitored</span>'
    return out


def status_legend() -> str:
    items = "".join(
        f"<li>{badge(s)} {escape('; '.join(meanings))}</li>" for s, meanings in status_meanings().items() if meanings
    )
    return f'<details class="legend-status"><summary>What the statuses mean</summary><ul>{items}</ul></details>'


def since_text(f: Finding) -> str:
    if f.since is None:
        return ""
    if f.windows <= 1:
        return f"new in this window ({day(f.since)})"
    at_least = "at least " if f.open_ended else ""
    return f"since {day(f.since)} ({at_least}{f.windows} windows)"


def _listing(cls: str, items: Sequence[str], *, limit: int | None, more_href: str | None = None) -> str:
    """A list of prepared <li> items, the first `limit` shown and how many more there are."""
    shown = items[:limit] if limit else items
    more = ""
    if len(items) > len(shown):
        rest = f"+ {len(items) - len(shown)} more"
        more = f'<li class="more">{link(more_href, rest) if more_href else escape(rest)}</li>'
    return f'<ul class="{cls}">{"".join(shown)}{more}</ul>'


def findings_list(findings: Sequence[Finding], *, limit: int | None = None, more_href: str | None = None) -> str:
    """The reasons for a status, each with what it is, observed vs expected or what moved, and since when."""
    if not findings:
        return '<p class="muted">Every check passed.</p>'
    items = [
        f'<li class="finding"><span class="dot st-{escape(f.status)}" aria-label="{escape(f.status)}"></span>'
        f'<div><span class="topic">{escape(f.topic)}</span> <b>{escape(f.title)}</b>'
        f' <span class="since">{escape(since_text(f))}</span>'
        + (f' <span class="muted-tag">🔕 {escape(f.muted)}</span>' if f.muted else "")
        + f'<div class="detail">{escape(f.detail)}</div></div></li>'
        for f in findings
    ]
    return _listing("findings", items, limit=limit, more_href=more_href)


def episodes_list(
    found: Sequence[Episode], title: str, *, limit: int | None = None, more_href: str | None = None
) -> str:
    """Reasons with the windows they held in: first → last (how many, whether ongoing)."""
    if not found:
        return ""
    items = [
        f'<li class="episode"><span class="dot st-{escape(e.finding.status)}"></span>'
        f'<span class="topic">{escape(e.finding.topic)}</span> <b>{escape(e.finding.title)}</b> '
        f'<span class="when">{escape(e.text())}</span></li>'
        for e in found
    ]
    return (
        f'<div class="episodes"><h3>{escape(title)}</h3>{_listing("", items, limit=limit, more_href=more_href)}</div>'
    )


@dataclass(frozen=True, kw_only=True)
class Cell:
    """One window in a dated strip."""

    start: dt.datetime
    status: str
    href: str
    tip: str


def strip(cells: Sequence[Cell], *, label: str) -> str:
    """The windows as coloured cells (oldest left), each a link with a tooltip, dated underneath at the
    first, the last and about every fifth window (a date where the month changes, else the day)."""
    if not cells:
        return ""
    boxes = "".join(
        f'<a class="cell st-{escape(c.status)}" href="{escape(c.href)}" data-tip="{escape(c.tip)}" '
        f'aria-label="{escape(c.tip.splitlines()[0])}"></a>'
        for c in cells
    )
    every = max(len(cells) // 5, 1)
    dates = []
    for i, c in enumerate(cells):
        text = ""
        if i == 0 or i == len(cells) - 1 or (i % every == 0 and len(cells) - 1 - i >= every / 2):
            text = (
                c.start.strftime("%b %d")
                if (c.start.hour, c.start.minute) == (0, 0)
                else c.start.strftime("%m-%d %H:%M")
            )
        cls = "date last" if i == len(cells) - 1 and i else "date"
        dates.append(f'<span class="{cls}">{escape(text)}</span>')
    return (
        f'<div class="strip-wrap" role="group" aria-label="{escape(label)}"><div class="strip">{boxes}</div>'
        f'<div class="strip strip-dates" aria-hidden="true">{"".join(dates)}</div></div>'
    )


def figure(chart: Chart, *, note: str = "") -> str:
    sub = f"<small>{escape(chart.subtitle)}</small>" if chart.subtitle else ""
    extra = f'<p class="note">{escape(note)}</p>' if note else ""
    return (
        f'<figure class="chart-box"><figcaption>{escape(chart.title)}{sub}</figcaption>'
        f"{render(chart)}{legend(chart)}{extra}</figure>"
    )


def bars_figure(chart: Bars, *, caption: str, note: str = "") -> str:
    extra = f'<p class="note">{escape(note)}</p>' if note else ""
    return (
        f'<figure class="chart-box"><figcaption>{escape(caption)}<small>{escape(chart.title)}</small></figcaption>'
        f"{render_bars(chart)}{bars_legend(chart)}{extra}</figure>"
    )


def page(
    title: str, body: str, shell: Shell, *, crumbs: Sequence[tuple[str, str | None]] = (), updated: str = ""
) -> str:
    """A whole page: breadcrumbs and freshness on top, then the body; no header of its own (it lives in
    Airflow's shell, which has one)."""
    trail = " <span class=sep>›</span> ".join(
        link(href, text) if href else f"<span>{escape(text)}</span>"
        for text, href in (("ML Monitoring", shell.dashboard), *crumbs)
    )
    generated = f"page made {when(shell.now)} UTC" if shell.now else ""
    fresh = " · ".join(x for x in (escape(updated), escape(generated)) if x)
    in_shell = f' data-shell="{escape(shell.in_shell)}"' if shell.in_shell else ""
    return (
        f'<!doctype html><html lang="en" class="light"{in_shell}><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title>"
        f'<link rel="stylesheet" href="{escape(shell.static)}/ui/mlmonitor.css">'
        f'<script src="{escape(shell.static)}/ui/mlmonitor.js"></script></head><body>'
        f'<div class="top"><nav class="crumbs" aria-label="breadcrumbs">{trail}</nav>'
        f'<div class="meta"><span class="fresh">{fresh}</span> '
        f'<a class="refresh" href="" data-refresh="1">Refresh</a> · {link(shell.docs_index, "Data Docs")} · '
        f"{link(shell.metrics, 'Metrics')}</div></div>"
        f'<main>{body}</main><div id="tip" role="tooltip" hidden></div></body></html>'
    )
