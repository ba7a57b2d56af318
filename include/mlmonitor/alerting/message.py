"""The destination-neutral alert: what broke, how badly, since when, and links to the evidence.

`build_alert` turns a post decision, the run row and the window's metric rows into an `Alert` of
plain data (facts, paragraphs and lists of findings made of styled spans); `alerting.slack_blocks`
renders it as Block Kit, `alerting.text` as plain text, and `alerting.destinations` delivers it.
Findings read each check's typed details (`checks.*.…Details`), never guessed keys.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast

from mlmonitor.alerting.policy import AlertDecision
from mlmonitor.checks.drift import DriftDetails
from mlmonitor.checks.prediction import MeanDetails, StatDetails
from mlmonitor.checks.validation import ValidationDetails
from mlmonitor.config import Severity
from mlmonitor.metrics import Metric, RunSummary

Style = Literal["plain", "strong", "code", "pre", "link"]
Tone = Literal["critical", "warning", "resolved", "failure"]
MessageKind = Literal["alert", "change", "reminder", "recovery", "task_failure", "late"]
ICONS: dict[Tone, str] = {"critical": "🚨", "warning": "⚠️", "resolved": "✅", "failure": "💥"}


@dataclass(frozen=True)
class Span:
    """A run of text with one style: plain, strong (emphasis), code (an identifier), pre (a block) or
    link (`text` naming `url`)."""

    text: str
    style: Style = "plain"
    url: str | None = None


Line = tuple[Span, ...]


def plain(text: str) -> Span:
    return Span(text)


def strong(text: str) -> Span:
    return Span(text, "strong")


def code(text: str) -> Span:
    return Span(text, "code")


def pre(text: str) -> Span:
    return Span(text, "pre")


def link(name: str, url: str) -> Span:
    return Span(name, "link", url)


@dataclass(frozen=True, kw_only=True)
class Paragraph:
    """Lines shown together."""

    lines: tuple[Line, ...]


@dataclass(frozen=True, kw_only=True)
class Listing:
    """A titled list of findings; renderers show the first `top` and say how many more there are."""

    title: str
    items: tuple[Line, ...]


Block = Paragraph | Listing


@dataclass(frozen=True, kw_only=True)
class Links:
    """Evidence of the run (absolute URLs; None when unknown)."""

    docs: str | None = None
    dashboard: str | None = None
    run: str | None = None

    def named(self) -> tuple[tuple[str, str], ...]:
        pairs = (("Data Docs", self.docs), ("Dashboard", self.dashboard), ("Airflow run", self.run))
        return tuple((name, url) for name, url in pairs if url)


@dataclass(frozen=True, kw_only=True)
class Alert:
    """One message about one model, ready for any renderer.

    Attributes:
        kind: alert, change, reminder, recovery (a window), task_failure (a task of a DAG) or late
            (a window not monitored by its deadline).
        tone: how it reads: critical, warning, resolved or failure.
        label: the headline's first word(s), e.g. CRITICAL.
        title: the rest of the headline, e.g. "carloan: ALERT".
        facts: (name, value) pairs: model, versions, window, status, rows, since.
        blocks: paragraphs and lists of findings, in order.
        links: (name, URL) pairs of the evidence.
        model, severity, window_start, status: plain data for destinations that route or record.
        owners, subscribers: who the message names (`alerting.mentions`): each renderer writes them its way.
    """

    kind: MessageKind
    tone: Tone
    label: str
    title: str
    facts: tuple[tuple[str, str], ...] = ()
    blocks: tuple[Block, ...] = ()
    links: tuple[tuple[str, str], ...] = ()
    model: str
    severity: Severity | None = None
    window_start: str | None = None
    status: str | None = None
    owners: tuple[str, ...] = ()
    subscribers: tuple[str, ...] = ()


_TITLE = {
    "alert": "{model}: {status}",
    "change": "{model}: {status}, what fails changed",
    "reminder": "{model}: still {status}",
    "recovery": "{model}: healthy again",
}


def cut(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, ending in "…" when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def number(value: Any) -> str:
    """A number as a short text (3 significant digits), or `n/a`."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "n/a" if value is None else cut(str(value), 80)
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def when(iso: str | dt.datetime | None) -> str:
    if iso is None:
        return "n/a"
    moment = dt.datetime.fromisoformat(iso) if isinstance(iso, str) else iso
    return f"{moment:%Y-%m-%d %H:%M}"


def _compact(value: Any, items: int = 5) -> str:
    if isinstance(value, (list, tuple)):
        more = f", +{len(value) - items}" if len(value) > items else ""
        return "[" + ", ".join(_compact(v) for v in value[:items]) + more + "]"
    return number(value) if isinstance(value, (int, float)) or value is None else cut(str(value), 60)


def _failed_line(m: Metric) -> Line:
    d = cast(ValidationDetails, m.details)
    if d.get("observed_value") is not None:
        observed = _compact(d.get("observed_value"))
    elif isinstance(d.get("unexpected_percent"), (int, float)):
        observed = f"{d['unexpected_percent']:.2f}% unexpected"
    else:
        observed = number(m.value)
    unexpected = d.get("unexpected_count")
    if isinstance(unexpected, int):
        total = d.get("element_count")
        observed += f" ({unexpected}" + (f" of {total}" if isinstance(total, int) else "") + " rows)"
    seen = d.get("partial_unexpected_counts") or []
    examples = sorted({cut(str(v["value"]), 60) for v in seen if isinstance(v, dict) and v.get("value") is not None})[
        :3
    ]
    if examples:
        observed += ", e.g. " + ", ".join(examples)
    kwargs = d.get("kwargs")
    expected = ", ".join(f"{k}={_compact(v)}" for k, v in sorted((kwargs or {}).items()) if k != "column")
    where = [code(m.column)] if m.column else [plain("the table")]
    return (
        plain("• "),
        code(m.metric),
        plain(" on "),
        *where,
        plain(f": observed {observed}" + (f"; expected {expected}" if expected else "")),
    )


def _streak(windows: int) -> str:
    return "first drifting window" if windows <= 1 else f"drifting {windows} windows in a row"


def _drift_line(m: Metric, streaks: Mapping[str, int]) -> Line:
    d = cast(DriftDetails, m.details)
    method = cut(str(d.get("method") or m.metric), 60)
    evidence = f", p={number(d.get('p_value', m.p_value))}" if d.get("p_value", m.p_value) is not None else ""
    streak = f"; {_streak(streaks[m.column])}" if m.column in streaks else ""
    effect, threshold = d.get("effect_size", m.value), d.get("threshold", m.threshold)
    acc = d.get("accumulated")
    if acc and acc["decision"] == "drift" and not _window_drifted(d):
        # found by the evidence of this window pooled with the ones before it: say so, with its figures
        effect, threshold = acc["effect_size"], acc["threshold"]
        evidence = f", p={number(acc['p_value'])} over the last {len(acc['windows'])} windows"
    return (
        plain("• "),
        code(m.column),
        plain(f" ({method}): effect size {number(effect)} vs threshold {number(threshold)}{evidence}{streak}"),
    )


def _window_drifted(d: DriftDetails) -> bool:
    """Whether the window alone drifted (its effect reached its threshold and its q-value is below fdr)."""
    effect, threshold, q, fdr = d.get("effect_size"), d.get("threshold"), d.get("q_value"), d.get("fdr")
    if effect is None or threshold is None or q is None or fdr is None:
        return True
    return effect >= threshold and q < fdr


def _effect(m: Metric) -> float:
    value = cast(DriftDetails, m.details).get("effect_size", m.value)
    return float(value) if isinstance(value, (int, float)) else 0.0


def _moved_line(m: Metric) -> Line:
    mean = cast(MeanDetails, m.details)
    reference = mean.get("training_mean", cast(StatDetails, m.details).get("training"))
    extra = f"training {number(reference)}" if reference is not None else ""
    z = mean.get("z_standard_errors")
    if isinstance(z, (int, float)):
        extra += f"; z={z:.1f} standard errors"
    return (
        plain(f"• {m.metric} of "),
        code(m.column),
        plain(f": {number(m.value)}" + (f" ({extra})" if extra else "")),
    )


def _other_line(m: Metric) -> Line:
    limit = f" (threshold {number(m.threshold)})" if m.threshold is not None else ""
    where = (plain(" of "), code(m.column)) if m.column else ()
    change = m.details.get("change")
    return (
        plain(f"• {m.check} {m.metric}"),
        *where,
        plain(f": {number(m.value)}{limit}" + (f" ({cut(str(change), 200)})" if change else "")),
    )


def _facts(decision: AlertDecision, summary: RunSummary) -> tuple[tuple[str, str], ...]:
    versions = sorted(summary.model_versions.items(), key=lambda kv: -kv[1])
    shown = ", ".join(f"{cut(v, 60)} ({n} rows)" for v, n in versions[:5]) + (
        f", +{len(versions) - 5} more" if len(versions) > 5 else ""
    )
    return (
        ("Model", summary.model),
        ("Version(s)", shown or "n/a"),
        ("Window (UTC)", f"{when(summary.window_start)} → {when(summary.window_end)}"),
        ("Status", f"{summary.status} ({decision.severity or 'resolved'})"),
        ("Rows", str(summary.rows)),
        ("Since", f"window of {when(decision.since)}"),
    )


def _findings(summary: RunSummary, metrics: Sequence[Metric], streaks: Mapping[str, int]) -> list[Block]:
    bad = [m for m in metrics if m.status != "ok"]
    drifted = sorted((m for m in bad if m.check == "drift" and m.column), key=lambda m: (-_effect(m), m.column))
    out: list[Block] = []
    if summary.status == "no_data":
        lead = strong("No serving rows in this window.")
        out.append(Paragraph(lines=((lead, plain(" Is the model serving, and is prediction logging working?")),)))
    if summary.status == "error" and summary.message:
        out.append(Paragraph(lines=((strong("Error:"), plain(f" {cut(summary.message, ERROR_LIMIT)}")),)))
    listings = (
        ("Failed expectations", [_failed_line(m) for m in bad if m.check == "validation"]),
        ("Drifted columns", [_drift_line(m, streaks) for m in drifted]),
        ("Prediction statistics that moved", [_moved_line(m) for m in bad if m.check == "stats"]),
        (
            "Other findings",
            [
                _other_line(m)
                for m in bad
                if m.check not in {"validation", "drift", "stats"} or (m.check == "drift" and not m.column)
            ],
        ),
    )
    out += [Listing(title=title, items=tuple(items)) for title, items in listings if items]
    return out


def _changes(decision: AlertDecision, now_failing: Sequence[str]) -> list[Block]:
    before = set(decision.previous.failing) if decision.previous else set()
    new = sorted(set(now_failing) - before)
    gone = sorted(before - set(now_failing))

    def listing(title: str, labels: list[str]) -> Listing:
        return Listing(title=title, items=tuple((plain(label),) for label in labels))

    if decision.kind == "recovery":
        return [listing("All checks pass again; was failing", sorted(before))]
    if decision.kind == "change":
        return [listing(t, labels) for t, labels in (("Newly failing", new), ("No longer failing", gone)) if labels]
    return []


def build_alert(
    decision: AlertDecision,
    summary: RunSummary,
    metrics: Sequence[Metric],
    now_failing: Sequence[str],
    streaks: Mapping[str, int],
    links: Links,
    *,
    owners: Sequence[str] = (),
    subscribers: Sequence[str] = (),
) -> Alert:
    """The alert for `decision` about the window of `summary`.

    Args:
        decision: the post decision (kind, severity, since, previous message).
        summary: the run row of the window.
        metrics: the metric rows of the window.
        now_failing: what fails in the window (`policy.failing`).
        streaks: drifted column -> consecutive drifting windows up to and including this one.
        links: URLs of the Data Docs page, the dashboard and the Airflow run.
        owners, subscribers: who the message names.
    """
    kind = decision.kind or "alert"
    recovery = kind == "recovery"
    body = [] if recovery else _findings(summary, metrics, streaks)
    return Alert(
        kind=kind,
        tone="resolved" if recovery else (decision.severity or "resolved"),
        label="RESOLVED" if recovery else (decision.severity or "ok").upper(),
        title=_TITLE[kind].format(model=summary.model, status=summary.status.upper()),
        facts=_facts(decision, summary),
        blocks=(*_changes(decision, now_failing), *body),
        links=links.named(),
        model=summary.model,
        severity=decision.severity,
        window_start=summary.window_start,
        status=summary.status,
        owners=tuple(owners),
        subscribers=tuple(subscribers),
    )


def resolved_alert(recovery: Alert, since: dt.datetime | None, at: dt.datetime) -> Alert:
    """What the first message of an incident becomes when it resolves (a conversational destination
    updates it in place): resolved, since which window it had failed, by which window and when."""
    return Alert(
        kind="recovery",
        tone="resolved",
        label="RESOLVED",
        title=f"{recovery.model}: resolved",
        facts=(
            ("Model", recovery.model),
            ("Failing since", f"window of {when(since)}"),
            ("Resolved by", f"window of {when(recovery.window_start)}"),
            ("Resolved at (UTC)", when(at)),
        ),
        blocks=recovery.blocks,
        links=recovery.links,
        model=recovery.model,
        window_start=recovery.window_start,
        status=recovery.status,
    )


ERROR_LIMIT = 2800  # characters of a task's error shown in a message


def failure_alert(model: str, dag_id: str, task_id: str, run_id: str, error: str, log_url: str | None) -> Alert:
    """A task of a monitoring DAG failed (warehouse down, bad config ...): the error and its log."""
    details = ((strong("Run"), plain(" "), code(run_id)), (strong("Error"),), (pre(cut(error, ERROR_LIMIT)),))
    return Alert(
        kind="task_failure",
        tone="failure",
        label="TASK FAILED",
        title=f"{model}: {dag_id}.{task_id}",
        blocks=(Paragraph(lines=details),),
        links=(("Task log", log_url),) if log_url else (),
        model=model,
        severity="critical",
    )


def alert_to_json(alert: Alert) -> str:
    """`alert` as JSON (queued alerts wait in the alert state for the grouped delivery)."""

    def block(b: Block) -> dict[str, Any]:
        lines = b.lines if isinstance(b, Paragraph) else b.items
        out: dict[str, Any] = {"lines": [[[x.text, x.style, x.url] for x in line] for line in lines]}
        return out if isinstance(b, Paragraph) else {**out, "title": b.title}

    data = {f: getattr(alert, f) for f in alert.__dataclass_fields__ if f != "blocks"}
    return json.dumps({**data, "blocks": [block(b) for b in alert.blocks]})


def alert_from_json(text: str) -> Alert:
    """The inverse of `alert_to_json`."""
    data = json.loads(text)

    def lines(raw: list[list[list[Any]]]) -> tuple[Line, ...]:
        return tuple(tuple(Span(t, style, url) for t, style, url in line) for line in raw)

    blocks: list[Block] = [
        Listing(title=b["title"], items=lines(b["lines"])) if "title" in b else Paragraph(lines=lines(b["lines"]))
        for b in data.pop("blocks")
    ]
    pairs = {k: tuple(tuple(p) for p in data[k]) for k in ("facts", "links")}
    people = {k: tuple(data[k]) for k in ("owners", "subscribers")}
    return Alert(**{**data, **pairs, **people}, blocks=tuple(blocks))


_RANK: dict[Tone, int] = {"failure": 3, "critical": 2, "warning": 1, "resolved": 0}


def grouped_alert(alerts: Sequence[Alert]) -> Alert:
    """Many models' messages of one tick as one: a headline with the count, then per model a section
    with its headline, window, status, since, the first line of each list, and its own links."""
    tone = max((a.tone for a in alerts), key=_RANK.__getitem__)
    models = sorted({a.model for a in alerts})
    blocks: list[Block] = []
    for a in sorted(alerts, key=lambda a: (-_RANK[a.tone], a.model)):
        facts = dict(a.facts)
        lines: list[Line] = [(strong(f"{ICONS[a.tone]} {a.label} · {a.title}"),)]
        where = " · ".join(f"{k} {facts[k]}" for k in ("Window (UTC)", "Status", "Since") if k in facts)
        if where:
            lines.append((plain(where),))
        for b in a.blocks:
            if isinstance(b, Listing) and b.items:
                more = f" (+{len(b.items) - 1} more)" if len(b.items) > 1 else ""
                lines.append((plain(f"{b.title}: "), *b.items[0], plain(more)))
        if a.links:
            lines.append(
                tuple(
                    span for i, (n, u) in enumerate(a.links) for span in ((plain(" · "),) if i else ()) + (link(n, u),)
                )
            )
        blocks.append(Paragraph(lines=tuple(lines)))
    return Alert(
        kind="alert",
        tone=tone,
        label=f"{len(alerts)} ALERTS",
        title=f"{len(models)} model" + ("s" if len(models) != 1 else ""),
        blocks=tuple(blocks),
        model=", ".join(models),
        owners=tuple(dict.fromkeys(o for a in alerts for o in a.owners)),
        subscribers=tuple(dict.fromkeys(o for a in alerts for o in a.subscribers)),
    )
