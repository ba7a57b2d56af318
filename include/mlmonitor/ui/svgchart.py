"""Server-side SVG line charts for the dashboard: pure functions, no JavaScript, nothing fetched.

A chart has a time axis (one x position per window), a labelled y axis with units, optional
horizontal reference lines (thresholds) and a shaded band (the training range); points carry
the window's status colour and a hover tooltip. Every text is escaped.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from html import escape

STATUS_COLOURS = {
    "ok": "#2e7d32",
    "warning": "#ef8c00",
    "alert": "#c62828",
    "no_data": "#9e9e9e",
    "error": "#6a1b9a",
}
SERIES_COLOURS = ("#1f5fa8", "#7b3fa0", "#00838f", "#5d4037")


@dataclass(frozen=True)
class Point:
    """One window's value; `status` colours the marker, `note` goes into the tooltip."""

    at: dt.datetime
    value: float | None
    status: str = "ok"
    note: str = ""


@dataclass(frozen=True)
class Series:
    label: str
    points: tuple[Point, ...]
    colour: str = SERIES_COLOURS[0]


@dataclass(frozen=True)
class RefLine:
    """A horizontal reference line, e.g. a drift threshold."""

    label: str
    value: float
    colour: str = "#c62828"


@dataclass(frozen=True)
class Band:
    """A shaded horizontal range, e.g. the training mean ± tolerance."""

    label: str
    low: float
    high: float
    colour: str = "#2e7d32"


@dataclass(frozen=True)
class Chart:
    key: str
    title: str
    y_label: str
    series: tuple[Series, ...]
    lines: tuple[RefLine, ...] = ()
    band: Band | None = None
    y_min: float | None = None
    subtitle: str = ""
    width: int = 430
    height: int = 220
    extra_legend: tuple[tuple[str, str], ...] = field(default=())


_LEFT, _RIGHT, _TOP, _BOTTOM = 62, 26, 14, 42


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering [low, high] (1, 2, 2.5, 5 x 10^k steps)."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return [0.0]
    if high <= low:
        high = low + (abs(low) or 1.0)
    raw = (high - low) / max(count - 1, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.floor(low / step) * step
    ticks = []
    v = start
    while v < high + step * 0.999:
        ticks.append(round(v, 12))
        v += step
    return ticks


def format_number(v: float) -> str:
    """Short tick/tooltip text: 1.2k, 0.035, 1,234."""
    a = abs(v)
    if a >= 10_000:
        return f"{v / 1000:.0f}k"
    if a >= 1000:
        return f"{v:,.0f}"
    if a >= 10 or v == 0:
        return f"{v:.0f}" if v == round(v) else f"{v:.1f}"
    if a >= 1:
        return f"{v:.2f}".rstrip("0").rstrip(".")
    return f"{v:.3g}"


def _y_range(chart: Chart) -> tuple[float, float]:
    values = [p.value for s in chart.series for p in s.points if p.value is not None and math.isfinite(p.value)]
    values += [line.value for line in chart.lines]
    if chart.band:
        values += [chart.band.low, chart.band.high]
    if not values:
        return 0.0, 1.0
    low, high = min(values), max(values)
    if chart.y_min is not None:
        low = min(low, chart.y_min)
    pad = (high - low) * 0.08 or abs(high) * 0.1 or 1.0
    return (low if chart.y_min is not None else low - pad), high + pad


def _times(chart: Chart) -> list[dt.datetime]:
    return sorted({p.at for s in chart.series for p in s.points})


def _date_label(at: dt.datetime, span: dt.timedelta) -> str:
    return at.strftime("%m-%d %H:%M") if span < dt.timedelta(days=2) else at.strftime("%b %d")


def render(chart: Chart) -> str:
    """The chart as an inline <svg> element."""
    w, h = chart.width, chart.height
    pw, ph = w - _LEFT - _RIGHT, h - _TOP - _BOTTOM
    times = _times(chart)
    ticks = nice_ticks(*_y_range(chart))
    y0, y1 = ticks[0], ticks[-1]
    t0 = times[0] if times else dt.datetime(1970, 1, 1)
    span = (times[-1] - t0) if times else dt.timedelta(0)

    def x(at: dt.datetime) -> float:
        if span.total_seconds() == 0:
            return _LEFT + pw / 2
        return _LEFT + pw * (at - t0).total_seconds() / span.total_seconds()

    def y(v: float) -> float:
        return _TOP + ph * (1 - (v - y0) / ((y1 - y0) or 1.0))

    out = [
        f'<svg class="chart" data-chart="{escape(chart.key)}" xmlns="http://www.w3.org/2000/svg" '
        f'viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-label="{escape(chart.title)}">',
        f"<title>{escape(chart.title)}</title>",
        f'<rect x="{_LEFT}" y="{_TOP}" width="{pw}" height="{ph}" fill="#fff" stroke="#ccc"/>',
    ]
    for t in ticks:
        out.append(
            f'<line x1="{_LEFT}" x2="{_LEFT + pw}" y1="{y(t):.1f}" y2="{y(t):.1f}" stroke="#eee"/>'
            f'<text x="{_LEFT - 6}" y="{y(t) + 4:.1f}" text-anchor="end" class="tick">{escape(format_number(t))}</text>'
        )
    for at in _spaced(_x_ticks(times), x):
        out.append(
            f'<line x1="{x(at):.1f}" x2="{x(at):.1f}" y1="{_TOP + ph}" y2="{_TOP + ph + 4}" stroke="#888"/>'
            f'<text x="{x(at):.1f}" y="{_TOP + ph + 16}" text-anchor="middle" class="tick">'
            f"{escape(_date_label(at, span))}</text>"
        )
    out.append(
        f'<text x="{_LEFT + pw / 2}" y="{h - 6}" text-anchor="middle" class="axis">window start (UTC)</text>'
        f'<text transform="translate(14 {_TOP + ph / 2}) rotate(-90)" text-anchor="middle" class="axis">'
        f"{escape(chart.y_label)}</text>"
    )
    if chart.band:
        b = chart.band
        top, bottom = y(min(max(b.high, y0), y1)), y(max(min(b.low, y1), y0))
        out.append(
            f'<rect x="{_LEFT}" y="{top:.1f}" width="{pw}" height="{max(bottom - top, 1):.1f}" '
            f'fill="{b.colour}" fill-opacity="0.12"><title>{escape(b.label)}</title></rect>'
        )
    for line in chart.lines:
        out.append(
            f'<line x1="{_LEFT}" x2="{_LEFT + pw}" y1="{y(line.value):.1f}" y2="{y(line.value):.1f}" '
            f'stroke="{line.colour}" stroke-width="1.5" stroke-dasharray="6 4">'
            f"<title>{escape(line.label)}: {escape(format_number(line.value))}</title></line>"
        )
    for s in chart.series:
        out.extend(_series(s, x, y))
    out.append("</svg>")
    return "".join(out)


def _x_ticks(times: list[dt.datetime], count: int = 6) -> list[dt.datetime]:
    if len(times) <= count:
        return times
    step = (len(times) - 1) / (count - 1)
    return [times[round(i * step)] for i in range(count)]


def _spaced(ticks: list[dt.datetime], x: Callable[[dt.datetime], float], gap: float = 58) -> list[dt.datetime]:
    """Drop ticks whose labels would overlap (keeps the first and the last window)."""
    kept: list[dt.datetime] = []
    for at in ticks:
        if kept and x(at) - x(kept[-1]) < gap:
            if at != ticks[-1]:
                continue
            if len(kept) > 1:
                kept.pop()
            else:
                continue
        kept.append(at)
    return kept


def _series(s: Series, x: Callable[[dt.datetime], float], y: Callable[[float], float]) -> list[str]:
    """Polyline segments (broken at windows without a value) and one status-coloured marker per window."""
    segments: list[list[str]] = [[]]
    for p in s.points:
        if p.value is None or not math.isfinite(p.value):
            segments.append([])
            continue
        segments[-1].append(f"{x(p.at):.1f},{y(p.value):.1f}")
    out = [
        f'<polyline fill="none" stroke="{s.colour}" stroke-width="1.8" points="{" ".join(seg)}"/>'
        for seg in segments
        if len(seg) > 1
    ]
    for p in s.points:
        if p.value is None or not math.isfinite(p.value):
            continue
        flagged = p.status not in {"ok", "no_data"}
        colour = STATUS_COLOURS.get(p.status, s.colour) if flagged else s.colour
        tip = f"{s.label}, window {p.at:%Y-%m-%d %H:%M}: {format_number(p.value)} ({p.status})"
        if p.note:
            tip += f" - {p.note}"
        out.append(
            f'<circle cx="{x(p.at):.1f}" cy="{y(p.value):.1f}" r="{4.2 if flagged else 2.6}" fill="{colour}" '
            f'data-status="{escape(p.status)}"><title>{escape(tip)}</title></circle>'
        )
    return out


def legend(chart: Chart) -> str:
    """An HTML legend for the chart: series, reference lines, band and status markers."""
    items = [f'<span class="lg"><i style="background:{s.colour}"></i>{escape(s.label)}</span>' for s in chart.series]
    items += [
        f'<span class="lg"><i class="dash" style="border-color:{line.colour}"></i>{escape(line.label)}</span>'
        for line in chart.lines
    ]
    if chart.band:
        swatch = f'<i style="background:{chart.band.colour};opacity:.25"></i>'
        items.append(f'<span class="lg">{swatch}{escape(chart.band.label)}</span>')
    items += [
        f'<span class="lg"><i class="dot" style="background:{colour}"></i>{escape(text)}</span>'
        for text, colour in chart.extra_legend
    ]
    return '<div class="legend">' + "".join(items) + "</div>"
