"""When to alert, decided by pure functions: severity, what is failing, and the post decision.

Building the message is `alerting.message`, rendering `alerting.slack_blocks` / `alerting.text`,
delivery `alerting.destinations`; the state the decision needs (what was last posted) lives in the
`mlmonitor_alerts` table (storage.alert_state).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from mlmonitor.config import Severity
from mlmonitor.metrics import Metric, RunSummary, Status
from mlmonitor.storage.alert_state import AlertKind, SentAlert
from mlmonitor.storage.mutes import Mute, covering

ALERTING = frozenset({"warning", "alert", "no_data", "error"})
_SEVERITY: dict[Status, Severity] = {
    "warning": "warning",
    "no_data": "warning",
    "alert": "critical",
    "error": "critical",
}


def should_alert(summary: RunSummary) -> bool:
    return summary.status in ALERTING


def severity_of(status: Status) -> Severity | None:
    """`critical` for alert / error windows, `warning` for warning / no_data, None when healthy."""
    return _SEVERITY.get(status)


def failing(summary: RunSummary, metrics: Sequence[Metric]) -> tuple[str, ...]:
    """What is failing, as stable labels (`check:metric(column)`): the identity of an alert.

    Values are left out on purpose: the same columns drifting a little more is not a new alert.
    """
    labels = {f"{m.check}:{m.metric}({m.column})" for m in metrics if m.status != "ok"}
    if summary.status in {"no_data", "error"}:
        labels.add(f"status:{summary.status}")
    return tuple(sorted(labels))


@dataclass(frozen=True, kw_only=True)
class AlertDecision:
    """Whether to post for this window, which kind of message, and why (logged by the task)."""

    kind: AlertKind | None
    reason: str
    severity: Severity | None = None
    since: dt.datetime | None = None
    previous: SentAlert | None = None

    @property
    def post(self) -> bool:
        return self.kind is not None


def decide_post(
    window_start: dt.datetime,
    severity: Severity | None,
    now_failing: tuple[str, ...],
    this_window: SentAlert | None,
    previous: SentAlert | None,
    reminder: dt.timedelta | None,
) -> AlertDecision:
    """The post decision for one window.

    Args:
        window_start: start of the window being notified.
        severity: its severity (None when healthy).
        now_failing: what fails in it (see `failing`).
        this_window: the message already delivered for this very window (a rerun), if any; one left
            `sending` (posted, then the run failed) is not posted again: delivery is at most once.
        previous: the last message delivered for an earlier window, if any.
        reminder: repeat an unchanged alert after this much window time; None never repeats.
    """
    if this_window is not None and this_window.state == "pending":
        return AlertDecision(
            kind=None, reason=f"a {this_window.kind} for this window is queued for the grouped delivery of its tick"
        )
    if this_window is not None and this_window.state == "sending":
        return AlertDecision(
            kind=None,
            reason=f"a {this_window.kind} for this window was posted at {this_window.sent_at} and not confirmed "
            "(the run failed after the post): not posted again, marked sent",
        )
    if this_window is not None:
        return AlertDecision(
            kind=None, reason=f"a {this_window.kind} was already sent for this window at {this_window.sent_at}"
        )
    streak = previous is not None and previous.kind != "recovery"
    if severity is None:
        if streak and previous is not None:
            return AlertDecision(
                kind="recovery",
                reason="healthy again after an alert",
                severity=None,
                since=previous.since,
                previous=previous,
            )
        return AlertDecision(kind=None, reason="healthy, and the last message was not an alert")
    if not streak or previous is None:
        return AlertDecision(
            kind="alert", reason="first alerting window", severity=severity, since=window_start, previous=previous
        )
    if previous.failing != now_failing or previous.severity != severity:
        return AlertDecision(
            kind="change",
            reason="what is failing changed since the last alert",
            severity=severity,
            since=previous.since,
            previous=previous,
        )
    if reminder is not None and window_start - previous.window_start >= reminder:
        return AlertDecision(
            kind="reminder",
            reason=f"unchanged for {window_start - previous.window_start}",
            severity=severity,
            since=previous.since,
            previous=previous,
        )
    return AlertDecision(
        kind=None,
        reason=f"unchanged since the {previous.kind} for window {previous.window_start:%Y-%m-%d %H:%M}"
        + ("" if reminder is None else f"; next reminder {reminder} after it"),
    )


def apply_mutes(decision: AlertDecision, now_failing: tuple[str, ...], mutes: Sequence[Mute]) -> AlertDecision:
    """`decision` with the window's mutes and acknowledgements applied (`storage.mutes`).

    An alert, change or reminder is not posted when everything it would report is silenced: for an
    alert or a reminder what fails, for a change what started or stopped failing. A recovery always
    posts (it ends a streak that was reported). Not posted means not recorded either, so once the
    mute ends the next window is decided against the last message actually sent.
    """
    if decision.kind is None or decision.kind == "recovery" or not mutes:
        return decision
    before = set(decision.previous.failing) if decision.previous and decision.kind == "change" else set()
    news = sorted(set(now_failing) ^ before) if decision.kind == "change" else sorted(now_failing)
    silenced = [covering(mutes, label) for label in news]
    if not news or any(m is None for m in silenced):
        return decision
    why = sorted({m.describe() for m in silenced if m is not None})
    return AlertDecision(kind=None, reason=f"{decision.kind} not posted: {'; '.join(why)}")
