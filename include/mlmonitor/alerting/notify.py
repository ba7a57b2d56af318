"""Notify a persisted window: decide whether to post, build the alert, deliver it, record it.

The one implementation behind the monitor DAG's `notify` task (Slack or the local file, chosen by
the Airflow layer per severity). The window is recorded as sent only after delivery, so a failed
post is retried by a rerun or a later run.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from sqlalchemy.engine import Engine

from mlmonitor.alerting.destinations import Destination, deliver
from mlmonitor.alerting.message import Alert, Links, Listing, build_alert, code, plain
from mlmonitor.alerting.policy import AlertDecision, apply_mutes, decide_post, failing, severity_of
from mlmonitor.config import ModelConfig, Severity
from mlmonitor.metrics import Metric, RunSummary, drifted_columns
from mlmonitor.storage import alert_state, mutes
from mlmonitor.storage.alert_state import SentAlert
from mlmonitor.window import Window

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class Notified:
    """What `notify_window` did: the decision, and where the message went (None: not posted)."""

    decision: AlertDecision
    destination: str | None

    def __str__(self) -> str:
        if self.destination is None:
            return f"not posted: {self.decision.reason}"
        return f"{self.decision.kind} sent to {self.destination}: {self.decision.reason}"


def with_muted(alert: Alert, now_failing: Sequence[str], found: Sequence[mutes.Mute]) -> Alert:
    """`alert` with a list of what fails but is muted or acknowledged (and by whom, until when)."""
    items = []
    for label in now_failing:
        mute = mutes.covering(found, *mutes.check_and_column(label))
        if mute is not None:
            items.append((plain("• "), code(label), plain(f": {mute.describe()}")))
    if not items:
        return alert
    return replace(alert, blocks=(*alert.blocks, Listing(title="Muted (still failing)", items=tuple(items))))


def notify_window(
    model: ModelConfig,
    summary: RunSummary,
    metrics: Sequence[Metric],
    results_engine: Engine,
    links: Links,
    destination_for: Callable[[Severity], Destination],
) -> Notified:
    """Post the alert, change, reminder or recovery of a persisted window (see `policy.decide_post`).

    `destination_for(severity)` chooses where a message of that severity goes (a recovery goes
    where the alert it ends went).
    """
    window = Window.of(dt.datetime.fromisoformat(summary.window_start), dt.datetime.fromisoformat(summary.window_end))
    severity = severity_of(summary.status)
    now_failing = failing(summary, metrics)
    this_window, previous = alert_state.for_window(results_engine, model.name, window.start)
    hours = model.alerts.reminder_hours
    reminder = None if hours is None else dt.timedelta(hours=hours)
    decision = decide_post(window.start, severity, now_failing, this_window, previous, reminder)
    found = mutes.for_window(mutes.active(results_engine, model.name, window.start), window.start)
    decision = apply_mutes(decision, now_failing, found)
    if decision.kind is None:
        log.info("%s %s: not posted: %s", model.name, summary.status, decision.reason)
        return Notified(decision=decision, destination=None)
    streaks = alert_state.drift_streaks(results_engine, model.name, drifted_columns(metrics), window.start)
    alert = with_muted(build_alert(decision, summary, metrics, now_failing, streaks, links), now_failing, found)
    route = decision.severity or (decision.previous.severity if decision.previous else None) or "warning"
    destination = deliver(alert, destination_for(route))
    recovered = decision.kind == "recovery"
    alert_state.record(
        results_engine,
        SentAlert(
            model=model.name,
            window_start=window.start,
            window_end=window.end,
            kind=decision.kind,
            severity=decision.severity,
            failing=() if recovered else now_failing,
            since=None if recovered else decision.since,
            destination=destination,
            sent_at=dt.datetime.now(dt.UTC),
        ),
    )
    log.info("%s sent to %s (%s)", decision.kind, destination, decision.reason)
    return Notified(decision=decision, destination=destination)
