"""The Slack message of an alert, a change, a reminder or a recovery: Block Kit JSON from pure data.

What broke, how badly, since when, and links to the evidence. Detail rows are read defensively
(other checks may add or rename keys in `details`), lists are cut to `top` items with
"… and N more", and every block stays within Slack's limits.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mlmonitor.alerting.policy import Decision
from mlmonitor.metrics import Metric, RunSummary

MAX_BLOCKS = 50
MAX_TEXT = 3000  # characters of a section's text (Slack rejects more)
MAX_HEADER = 150
MAX_FIELD = 2000
_LINK = re.compile(r"<([^|>]+)\|([^>]+)>")
_LINE = 400  # one bullet; longer ones are cut so a list still shows several items
_ICON = {"critical": "🚨", "warning": "⚠️", "resolved": "✅", "ok": "✅"}
_TITLE = {
    "alert": "{model}: {status}",
    "change": "{model}: {status}, what fails changed",
    "reminder": "{model}: still {status}",
    "recovery": "{model}: healthy again",
}


@dataclass(frozen=True)
class Links:
    """Evidence of the run (absolute URLs; None when unknown)."""

    docs: str | None = None
    dashboard: str | None = None
    run: str | None = None


@dataclass(frozen=True)
class SlackMessage:
    """`text` is the notification / fallback text, `blocks` the Block Kit layout."""

    text: str
    blocks: list[dict[str, Any]]


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _num(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "n/a" if value is None else _cut(str(value), 80)
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def _when(iso: str | dt.datetime | None) -> str:
    if iso is None:
        return "n/a"
    moment = dt.datetime.fromisoformat(iso) if isinstance(iso, str) else iso
    return f"{moment:%Y-%m-%d %H:%M}"


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _cut(text, MAX_TEXT)}}


def _listing(title: str, lines: Sequence[str], top: int) -> str:
    """A titled bullet list of at most `top` lines and MAX_TEXT characters, then "… and N more"."""
    shown = [_cut(line, _LINE) for line in lines[:top]]
    while True:
        rest = len(lines) - len(shown)
        text = "\n".join([f"*{title} ({len(lines)})*", *shown, *([f"… and {rest} more"] if rest else [])])
        if len(text) <= MAX_TEXT or not shown:
            return text
        shown.pop()


def _compact(value: Any, items: int = 5) -> str:
    if isinstance(value, (list, tuple)):
        more = f", +{len(value) - items}" if len(value) > items else ""
        return "[" + ", ".join(_compact(v) for v in value[:items]) + more + "]"
    return _num(value) if isinstance(value, (int, float)) or value is None else _cut(str(value), 60)


def _failed_line(m: Metric) -> str:
    d = m.details
    if d.get("observed") is not None or d.get("observed_value") is not None:
        observed = _compact(d.get("observed", d.get("observed_value")))
    elif isinstance(d.get("unexpected_percent"), (int, float)):
        observed = f"{d['unexpected_percent']:.2f}% unexpected"
    else:
        observed = _num(m.value)
    if isinstance(d.get("unexpected_count"), int):
        total = d.get("element_count")
        observed += f" ({d['unexpected_count']}" + (f" of {total}" if isinstance(total, int) else "") + " rows)"
    seen = d.get("partial_unexpected_counts") or []
    examples = sorted({str(v["value"]) for v in seen if isinstance(v, dict) and v.get("value") is not None})[:3]
    if examples:
        observed += ", e.g. " + ", ".join(examples)
    kwargs: dict[str, Any] = d["kwargs"] if isinstance(d.get("kwargs"), dict) else {}
    expected = ", ".join(f"{k}={_compact(v)}" for k, v in sorted(kwargs.items()) if k != "column")
    where = f"`{m.column}`" if m.column else "the table"
    return f"• `{m.metric}` on {where}: observed {observed}" + (f"; expected {expected}" if expected else "")


def _streak(windows: int) -> str:
    return "first drifting window" if windows <= 1 else f"drifting {windows} windows in a row"


def _drift_line(m: Metric, streaks: Mapping[str, int]) -> str:
    d = m.details
    method = d.get("method") or m.metric
    effect = d.get("effect_size", m.value)
    threshold = d.get("threshold", m.threshold)
    p_value = d.get("p_value", m.p_value)
    evidence = f", p={_num(p_value)}" if p_value is not None else ""
    streak = f"; {_streak(streaks[m.column])}" if m.column in streaks else ""
    return f"• `{m.column}` ({method}): effect size {_num(effect)} vs threshold {_num(threshold)}{evidence}{streak}"


def _effect(m: Metric) -> float:
    value = m.details.get("effect_size", m.value)
    return float(value) if isinstance(value, (int, float)) else 0.0


def _moved_line(m: Metric) -> str:
    d = m.details
    reference = d.get("training_mean", d.get("training"))
    extra = f"training {_num(reference)}" if reference is not None else ""
    if isinstance(d.get("z_standard_errors"), (int, float)):
        extra += f"; z={d['z_standard_errors']:.1f} standard errors"
    return f"• {m.metric} of `{m.column}`: {_num(m.value)}" + (f" ({extra})" if extra else "")


def _other_line(m: Metric) -> str:
    limit = f" (threshold {_num(m.threshold)})" if m.threshold is not None else ""
    where = f" of `{m.column}`" if m.column else ""
    change = f" ({_cut(str(m.details['change']), 200)})" if m.details.get("change") else ""
    return f"• {m.check} {m.metric}{where}: {_num(m.value)}{limit}{change}"


def _fields(decision: Decision, summary: RunSummary) -> dict[str, Any]:
    versions = sorted(summary.model_versions.items(), key=lambda kv: -kv[1])
    shown = ", ".join(f"{v} ({n} rows)" for v, n in versions[:5]) + (
        f", +{len(versions) - 5} more" if len(versions) > 5 else ""
    )
    severity = decision.severity or "resolved"
    pairs = [
        ("Model", summary.model),
        ("Version(s)", shown or "n/a"),
        ("Window (UTC)", f"{_when(summary.window_start)} → {_when(summary.window_end)}"),
        ("Status", f"{summary.status} ({severity})"),
        ("Rows", str(summary.rows)),
        ("Since", f"window of {_when(decision.since)}"),
    ]
    return {
        "type": "section",
        "fields": [{"type": "mrkdwn", "text": _cut(f"*{k}*\n{v}", MAX_FIELD)} for k, v in pairs],
    }


def _findings(
    summary: RunSummary, metrics: Sequence[Metric], streaks: Mapping[str, int], top: int
) -> list[dict[str, Any]]:
    bad = [m for m in metrics if m.status != "ok"]
    failed = [m for m in bad if m.check == "validation"]
    drifted = sorted((m for m in bad if m.check == "drift" and m.column), key=lambda m: (-_effect(m), m.column))
    moved = [m for m in bad if m.check == "stats"]
    other = [m for m in bad if m.check in {"health", "performance"} or (m.check == "drift" and not m.column)]
    texts = []
    if summary.status == "no_data":
        texts.append("*No serving rows in this window.* Is the model serving, and is prediction logging working?")
    if summary.status == "error" and summary.message:
        texts.append(f"*Error:* {summary.message}")
    texts += [
        _listing(title, [fmt(m) for m in items], top)
        for title, items, fmt in (
            ("Failed expectations", failed, _failed_line),
            ("Drifted columns", drifted, lambda m: _drift_line(m, streaks)),
            ("Prediction statistics that moved", moved, _moved_line),
            ("Other findings", other, _other_line),
        )
        if items
    ]
    return [_section(t) for t in texts]


def _changes(decision: Decision, now_failing: Sequence[str], top: int) -> list[dict[str, Any]]:
    before = set(decision.previous.failing) if decision.previous else set()
    new = sorted(set(now_failing) - before)
    gone = sorted(before - set(now_failing))
    texts = []
    if decision.kind == "recovery":
        texts.append(_listing("All checks pass again; was failing", sorted(before), top))
    elif decision.kind == "change":
        if new:
            texts.append(_listing("Newly failing", new, top))
        if gone:
            texts.append(_listing("No longer failing", gone, top))
    return [_section(t) for t in texts]


def _links(links: Links) -> list[dict[str, Any]]:
    parts = [
        f"<{url}|{name}>"
        for name, url in (("Data Docs", links.docs), ("Dashboard", links.dashboard), ("Airflow run", links.run))
        if url
    ]
    return [_section(" · ".join(parts))] if parts else []


def _plain(blocks: Sequence[dict[str, Any]]) -> str:
    """The fallback text (notifications, clients without Block Kit, the task log and the local file):
    the blocks' text in order, links spelled out as `name: url`."""
    lines: list[str] = []
    for block in blocks:
        if "text" in block:
            lines.append(_LINK.sub(r"\2: \1", block["text"]["text"]))
        for field in block.get("fields", []):
            lines.append(field["text"].replace("*\n", ": ").replace("*", ""))
    return _cut("\n".join(lines), MAX_TEXT)


def build_message(
    decision: Decision,
    summary: RunSummary,
    metrics: Sequence[Metric],
    now_failing: Sequence[str],
    streaks: Mapping[str, int],
    links: Links,
    top: int = 5,
) -> SlackMessage:
    """The message for `decision` about the window of `summary`.

    Args:
        decision: the post decision (kind, severity, since, previous message).
        summary: the run row of the window.
        metrics: the metric rows of the window.
        now_failing: what fails in the window (`alerts.failing`).
        streaks: drifted column -> consecutive drifting windows up to and including this one.
        links: URLs of the Data Docs page, the dashboard and the Airflow run.
        top: how many items each list shows before "… and N more".
    """
    kind = decision.kind or "alert"
    label = "RESOLVED" if kind == "recovery" else (decision.severity or "ok").upper()
    title = _TITLE[kind].format(model=summary.model, status=summary.status.upper())
    header = {
        "type": "header",
        "text": {"type": "plain_text", "text": _cut(f"{_ICON[label.lower()]} {label} · {title}", MAX_HEADER)},
    }
    body = [] if kind == "recovery" else _findings(summary, metrics, streaks, top)
    blocks = [header, _fields(decision, summary), *_changes(decision, now_failing, top), *body, *_links(links)]
    if len(blocks) > MAX_BLOCKS:
        blocks = [*blocks[: MAX_BLOCKS - 1], _section(f"… and {len(blocks) - MAX_BLOCKS + 1} more sections")]
    return SlackMessage(_plain(blocks), blocks)


def failure_message(
    model: str, dag_id: str, task_id: str, run_id: str, error: str, log_url: str | None
) -> SlackMessage:
    """A task of a monitoring DAG failed (warehouse down, bad config ...): the error and its log."""
    header = {
        "type": "header",
        "text": {"type": "plain_text", "text": _cut(f"💥 TASK FAILED · {model}: {dag_id}.{task_id}", MAX_HEADER)},
    }
    blocks = [
        header,
        _section(f"*Run* `{run_id}`\n*Error*\n```{_cut(error, MAX_TEXT - 200)}```"),
        *([_section(f"<{log_url}|Task log>")] if log_url else []),
    ]
    return SlackMessage(_plain(blocks), blocks)
