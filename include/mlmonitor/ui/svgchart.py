"""Server-side SVG charts for the dashboard: pure functions, nothing fetched, themed by CSS classes.

Three shapes: a line chart over windows (series, reference lines, a band), a bar chart of training vs
window shares (a histogram of the frozen bins or the category shares) and a sparkline. Charts scale
to the width of their container (viewBox, no fixed size). Every window of a line chart and every bar
of a bar chart has a hover target carrying its tooltip text in `data-tip` (window, values, thresholds,
decisions), shown by the dashboard's script on hover, focus or tap; no SVG <title> tooltips. Colours
are classes (`s0`..`s3` series, `st-<status>` markers, `ref-*` lines) that the stylesheet maps to the
light and dark palettes. Every text is escaped.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from html import escape

STATUSES = ("ok", "warning", "alert", "no_data", "error")


@dataclass(frozen=True)
class Point:
    """One window's value; `status` marks the point when not ok, `note` adds to the tooltip."""

    at: dt.datetime
    value: float | None
    status: str = "ok"
    note: str = ""


@dataclass(frozen=True)
class Series:
    label: str
    points: tuple[Point, ...]
    tone: int = 0  # the series colour: class s0..s3
    unit: str = ""  # appended to values in the tooltip
    marked: bool = True  # mark points whose status is not ok
    dashed: bool = False  # a limit that varies per window, not a measurement


@dataclass(frozen=True)
class RefLine:
    """A horizontal reference line, e.g. a drift threshold (`kind`: threshold, baseline or limit)."""

    label: str
    value: float
    kind: str = "threshold"
    tone: int | None = None  # dashed in a series' colour instead of the kind's


@dataclass(frozen=True)
class Band:
    """A shaded horizontal range, e.g. the training mean ± tolerance."""

    label: str
    low: float
    high: float


@dataclass(frozen=True)
class Chart:
    key: str
    title: str
    y_label: str
    series: tuple[Series, ...]
    lines: tuple[RefLine, ...] = ()
    band: Band | None = None
    y_min: float | None = None
    y_max: float | None = None
    subtitle: str = ""
    width: int = 640
    height: int = 210
    percent: bool = False  # y values are shares shown as percentages
    extra_legend: tuple[tuple[str, str], ...] = field(default=())  # (text, status) marker legends


_LEFT, _RIGHT, _TOP, _BOTTOM = 58, 16, 12, 36


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


def format_number(v: float, percent: bool = False) -> str:
    """Short tick/tooltip text: 1.2k, 0.035, 1,234, 12%."""
    if percent:
        return f"{100 * v:.0f}%" if abs(v) >= 0.1 or v == 0 else f"{100 * v:.1f}%"
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
    if chart.y_max is not None:
        high = max(high, chart.y_max)
    pad = (high - low) * 0.08 or abs(high) * 0.1 or 1.0
    return (low if chart.y_min is not None else low - pad), (high if chart.y_max is not None else high + pad)


def _times(chart: Chart) -> list[dt.datetime]:
    return sorted({p.at for s in chart.series for p in s.points})


def _date_label(at: dt.datetime, span: dt.timedelta) -> str:
    return at.strftime("%m-%d %H:%M") if span < dt.timedelta(days=2) else at.strftime("%b %d")


def _when(at: dt.datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M")


def _value_text(value: float | None, chart: Chart, unit: str = "") -> str:
    if value is None or not math.isfinite(value):
        return "no value"
    return format_number(value, chart.percent) + (f" {unit}" if unit else "")


def tooltip(chart: Chart, at: dt.datetime) -> str:
    """What hovering a window shows: the window, each series' value and decision, the reference lines."""
    lines = [f"window {_when(at)} UTC"]
    for s in chart.series:
        p = next((p for p in s.points if p.at == at), None)
        if p is None:
            continue
        decision = "" if p.status in ("ok", "no_data") or not s.marked else f" ({p.status})"
        lines.append(f"{s.label}: {_value_text(p.value, chart, s.unit)}{decision}" + (f" – {p.note}" if p.note else ""))
    lines += [f"{line.label}: {_value_text(line.value, chart)}" for line in chart.lines]
    if chart.band:
        b = chart.band
        lines.append(f"{b.label}: {_value_text(b.low, chart)} to {_value_text(b.high, chart)}")
    return "\n".join(lines)


def render(chart: Chart) -> str:
    """The chart as an inline <svg> element that fills its container's width."""
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
        f'viewBox="0 0 {w} {h}" preserveAspectRatio="xMidYMid meet" role="img" '
        f'aria-label="{escape(chart.title)}: {escape(chart.y_label)} per window">',
        f'<rect class="plot" x="{_LEFT}" y="{_TOP}" width="{pw}" height="{ph}"/>',
    ]
    for t in ticks:
        out.append(
            f'<line class="gridline" x1="{_LEFT}" x2="{_LEFT + pw}" y1="{y(t):.1f}" y2="{y(t):.1f}"/>'
            f'<text x="{_LEFT - 6}" y="{y(t) + 4:.1f}" text-anchor="end" class="tick">'
            f"{escape(format_number(t, chart.percent))}</text>"
        )
    for at in _spaced(_x_ticks(times), x):
        # labels at the edges of the plot align inwards, so they are not cut
        anchor = "start" if x(at) - _LEFT < 24 else "end" if _LEFT + pw - x(at) < 24 else "middle"
        anchor = "middle" if len(times) == 1 else anchor
        out.append(
            f'<line class="axis-line" x1="{x(at):.1f}" x2="{x(at):.1f}" y1="{_TOP + ph}" y2="{_TOP + ph + 4}"/>'
            f'<text x="{x(at):.1f}" y="{_TOP + ph + 16}" text-anchor="{anchor}" class="tick">'
            f"{escape(_date_label(at, span))}</text>"
        )
    out.append(
        f'<text x="{_LEFT + pw / 2}" y="{h - 4}" text-anchor="middle" class="axis">window start (UTC)</text>'
        f'<text transform="translate(12 {_TOP + ph / 2}) rotate(-90)" text-anchor="middle" class="axis">'
        f"{escape(chart.y_label)}</text>"
    )
    if chart.band:
        b = chart.band
        top, bottom = y(min(max(b.high, y0), y1)), y(max(min(b.low, y1), y0))
        out.append(f'<rect class="band" x="{_LEFT}" y="{top:.1f}" width="{pw}" height="{max(bottom - top, 1):.1f}"/>')
    for line in chart.lines:
        tone = f" s{line.tone}" if line.tone is not None else ""
        out.append(
            f'<line class="ref ref-{escape(line.kind)}{tone}" x1="{_LEFT}" x2="{_LEFT + pw}" '
            f'y1="{y(line.value):.1f}" y2="{y(line.value):.1f}"/>'
        )
    for s in chart.series:
        out.extend(_series(s, x, y))
    out.extend(_hit_areas(chart, times, x, pw, ph))
    out.append("</svg>")
    return "".join(out)


def _hit_areas(
    chart: Chart, times: list[dt.datetime], x: Callable[[dt.datetime], float], pw: float, ph: float
) -> list[str]:
    """One transparent column per window, as wide as the gap between windows, with its tooltip."""
    out = []
    xs = [x(t) for t in times]
    for i, at in enumerate(times):
        left = _LEFT if i == 0 else (xs[i - 1] + xs[i]) / 2
        right = _LEFT + pw if i == len(times) - 1 else (xs[i] + xs[i + 1]) / 2
        out.append(
            f'<rect class="hit" x="{left:.1f}" y="{_TOP}" width="{max(right - left, 1):.1f}" height="{ph}" '
            f'data-x="{xs[i]:.1f}" data-tip="{escape(tooltip(chart, at))}"/>'
        )
    return out


def _x_ticks(times: list[dt.datetime], count: int = 7) -> list[dt.datetime]:
    if len(times) <= count:
        return times
    step = (len(times) - 1) / (count - 1)
    return [times[round(i * step)] for i in range(count)]


def _spaced(ticks: list[dt.datetime], x: Callable[[dt.datetime], float], gap: float = 60) -> list[dt.datetime]:
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
    """Polyline segments (broken at windows without a value) and a marker per flagged window."""
    segments: list[list[str]] = [[]]
    for p in s.points:
        if p.value is None or not math.isfinite(p.value):
            segments.append([])
            continue
        segments[-1].append(f"{x(p.at):.1f},{y(p.value):.1f}")
    dashed = " dashed" if s.dashed else ""
    out = [f'<polyline class="line s{s.tone}{dashed}" points="{" ".join(seg)}"/>' for seg in segments if len(seg) > 1]
    for p in s.points if not s.dashed else ():
        if p.value is None or not math.isfinite(p.value):
            continue
        flagged = s.marked and p.status not in {"ok", "no_data"}
        cls = f"pt st-{escape(p.status)}" if flagged else f"pt s{s.tone}"
        out.append(
            f'<circle class="{cls}" cx="{x(p.at):.1f}" cy="{y(p.value):.1f}" r="{4 if flagged else 2}" '
            f'data-status="{escape(p.status)}"/>'
        )
    return out


def legend(chart: Chart) -> str:
    """An HTML legend for the chart: series, reference lines, band and status markers."""
    items = [
        f'<span class="lg"><i class="{"dash" if s.dashed else "sw"} s{s.tone}"></i>{escape(s.label)}</span>'
        for s in chart.series
    ]
    for line in chart.lines:
        tone = f" s{line.tone}" if line.tone is not None else ""
        text = f"{line.label} ({format_number(line.value, chart.percent)})"
        items.append(f'<span class="lg"><i class="dash ref-{escape(line.kind)}{tone}"></i>{escape(text)}</span>')
    if chart.band:
        items.append(f'<span class="lg"><i class="sw band"></i>{escape(chart.band.label)}</span>')
    items += [
        f'<span class="lg"><i class="dot st-{escape(status)}"></i>{escape(text)}</span>'
        for text, status in chart.extra_legend
    ]
    return '<div class="legend">' + "".join(items) + "</div>"


# ---------------------------------------------------------------- bars: training vs window shares


@dataclass(frozen=True, kw_only=True)
class Bars:
    """Training vs window share per bucket (a frozen bin or a category)."""

    key: str
    title: str
    buckets: tuple[str, ...]
    training: tuple[float, ...]  # shares
    window: tuple[float, ...]
    window_label: str
    x_label: str
    width: int = 640
    height: int = 220


def render_bars(chart: Bars) -> str:
    """Paired bars per bucket (training muted, window in the accent colour), shares in percent."""
    n = max(len(chart.buckets), 1)
    rotate = n > 6
    w, h = chart.width, chart.height + (24 if rotate else 0)
    left, right, top, bottom = 60, 10, 12, 82 if rotate else 44
    pw, ph = w - left - right, h - top - bottom
    ticks = nice_ticks(0.0, max([*chart.training, *chart.window, 0.01]), 4)
    y1 = ticks[-1] or 1.0

    def y(v: float) -> float:
        return top + ph * (1 - v / y1)

    slot = pw / n
    bar = min(slot * 0.38, 40)
    out = [
        f'<svg class="chart bars" data-chart="{escape(chart.key)}" xmlns="http://www.w3.org/2000/svg" '
        f'viewBox="0 0 {w} {h}" preserveAspectRatio="xMidYMid meet" role="img" aria-label="{escape(chart.title)}">',
        f'<rect class="plot" x="{left}" y="{top}" width="{pw}" height="{ph}"/>',
    ]
    for t in ticks:
        out.append(
            f'<line class="gridline" x1="{left}" x2="{left + pw}" y1="{y(t):.1f}" y2="{y(t):.1f}"/>'
            f'<text x="{left - 6}" y="{y(t) + 4:.1f}" text-anchor="end" class="tick">'
            f"{escape(format_number(t, True))}</text>"
        )
    for i, (name, a, b) in enumerate(zip(chart.buckets, chart.training, chart.window, strict=True)):
        cx = left + slot * (i + 0.5)
        out.append(
            f'<rect class="bar bar-training" x="{cx - bar:.1f}" y="{y(a):.1f}" width="{bar:.1f}" '
            f'height="{max(y(0) - y(a), 0):.1f}"/>'
            f'<rect class="bar bar-window" x="{cx:.1f}" y="{y(b):.1f}" width="{bar:.1f}" '
            f'height="{max(y(0) - y(b), 0):.1f}"/>'
        )
        label = name if len(name) <= 14 else name[:13] + "…"
        if rotate:
            out.append(
                f'<text class="tick" text-anchor="end" transform="translate({cx:.1f} {top + ph + 10}) rotate(-35)">'
                f"{escape(label)}</text>"
            )
        else:
            out.append(
                f'<text class="tick" x="{cx:.1f}" y="{top + ph + 16}" text-anchor="middle">{escape(label)}</text>'
            )
        tip = f"{name}\ntraining: {format_number(a, True)}\n{chart.window_label}: {format_number(b, True)}"
        out.append(
            f'<rect class="hit" x="{left + slot * i:.1f}" y="{top}" width="{slot:.1f}" height="{ph}" '
            f'data-x="{cx:.1f}" data-tip="{escape(tip)}"/>'
        )
    out.append(
        f'<text x="{left + pw / 2}" y="{h - 4}" text-anchor="middle" class="axis">{escape(chart.x_label)}</text>'
        f'<text transform="translate(12 {top + ph / 2}) rotate(-90)" text-anchor="middle" class="axis">share</text>'
        "</svg>"
    )
    return "".join(out)


def bars_legend(chart: Bars) -> str:
    return (
        '<div class="legend"><span class="lg"><i class="sw bar-training"></i>training</span>'
        f'<span class="lg"><i class="sw bar-window"></i>{escape(chart.window_label)}</span></div>'
    )


# ---------------------------------------------------------------- sparkline


def sparkline(key: str, values: Sequence[tuple[dt.datetime, float | None, str]], threshold: float | None = None) -> str:
    """A small line of a column's score per window (flagged windows marked), with its threshold dashed."""
    w, h, pad = 120, 26, 3
    present = [v for _, v, _ in values if v is not None and math.isfinite(v)]
    if not present:
        return '<span class="muted">no values</span>'
    high = max([*present, threshold or 0.0]) or 1.0
    low = min([*present, 0.0])

    def y(v: float) -> float:
        return pad + (h - 2 * pad) * (1 - (v - low) / ((high - low) or 1.0))

    step = (w - 2 * pad) / max(len(values) - 1, 1)
    points = [
        f"{pad + i * step:.1f},{y(v):.1f}" for i, (_, v, _) in enumerate(values) if v is not None and math.isfinite(v)
    ]
    out = [
        f'<svg class="spark" data-chart="{escape(key)}" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" '
        f'width="{w}" height="{h}" role="img" aria-label="trend of {escape(key)}">'
    ]
    if threshold is not None:
        out.append(f'<line class="ref ref-threshold" x1="0" x2="{w}" y1="{y(threshold):.1f}" y2="{y(threshold):.1f}"/>')
    out.append(f'<polyline class="line s0" points="{" ".join(points)}"/>')
    for i, (_, v, status) in enumerate(values):
        if v is not None and math.isfinite(v) and status not in ("ok", "no_data"):
            out.append(f'<circle class="pt st-{escape(status)}" cx="{pad + i * step:.1f}" cy="{y(v):.1f}" r="2.5"/>')
    out.append("</svg>")
    return "".join(out)
