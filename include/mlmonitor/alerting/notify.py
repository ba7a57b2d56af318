"""Notify a persisted window: decide whether to post, build the alert, deliver it, record it.

The one implementation behind the monitor DAG's `notify` task (Slack or the local file, chosen by
the Airflow layer per severity). The alert state row goes `sending` before the post and `sent` after
it; a failed post removes it, so a rerun or a later run delivers; a row left `sending` (the results
database failed after the post) is marked sent by the retry without posting again. With a
conversational destination (Slack, bot token) the first alert of a streak starts a thread, its
change, reminder and recovery messages reply in it, and the recovery updates the first message.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from sqlalchemy.engine import Engine

from mlmonitor.alerting.destinations import Destination
from mlmonitor.alerting.mentions import unique
from mlmonitor.alerting.message import Links, build_alert, resolved_alert
from mlmonitor.alerting.policy import AlertDecision, decide_post, failing, severity_of
from mlmonitor.alerting.threads import Conversational, post
from mlmonitor.config import AlertsConfig, ModelConfig, Severity
from mlmonitor.metrics import Metric, RunSummary, drifted_columns
from mlmonitor.storage import alert_state
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


def owners_of(alerts: AlertsConfig, metrics: Sequence[Metric]) -> tuple[str, ...]:
    """The model's owners, then the owners of each failing check and column (no repeats)."""
    bad = [m for m in metrics if m.status != "ok"]
    by_check = [name for m in bad for name in alerts.check_owners.get(m.check, [])]
    by_column = [name for m in bad if m.column for name in alerts.column_owners.get(m.column, [])]
    return unique([*alerts.owners, *by_check, *by_column])


def notify_window(
    model: ModelConfig,
    summary: RunSummary,
    metrics: Sequence[Metric],
    results_engine: Engine,
    links: Links,
    destination_for: Callable[[Severity], Destination],
    now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
) -> Notified:
    """Post the alert, change, reminder or recovery of a persisted window (see `policy.decide_post`).

    `destination_for(severity)` chooses where a message of that severity goes (a recovery goes
    where the alert it ends went). An ad-hoc window (`summary.adhoc`) is judged on its own: it
    neither continues nor ends a streak.
    """
    window = Window.of(dt.datetime.fromisoformat(summary.window_start), dt.datetime.fromisoformat(summary.window_end))
    severity = severity_of(summary.status)
    now_failing = failing(summary, metrics)
    this_window, previous = alert_state.for_window(results_engine, model.name, window)
    if summary.adhoc:
        previous = None
    hours = model.alerts.reminder_hours
    reminder = None if hours is None else dt.timedelta(hours=hours)
    decision = decide_post(window.start, severity, now_failing, this_window, previous, reminder)
    if decision.kind is None:
        if this_window is not None and this_window.state == "sending":
            alert_state.finish(results_engine, replace(this_window, state="sent"))
            log.warning("%s %s: %s", model.name, window.label, decision.reason)
        log.info("%s %s: not posted: %s", model.name, summary.status, decision.reason)
        return Notified(decision=decision, destination=None)
    streaks = alert_state.drift_streaks(results_engine, model.name, drifted_columns(metrics), window.start)
    alert = build_alert(
        decision,
        summary,
        metrics,
        now_failing,
        streaks,
        links,
        owners=owners_of(model.alerts, metrics) if decision.kind != "recovery" else tuple(model.alerts.owners),
        subscribers=model.alerts.subscribers,
    )
    route = decision.severity or (decision.previous.severity if decision.previous else None) or "warning"
    destination = destination_for(route)
    thread = decision.previous.thread if decision.kind != "alert" and decision.previous else None
    recovered = decision.kind == "recovery"
    sending = SentAlert(
        model=model.name,
        window_start=window.start,
        window_end=window.end,
        kind=decision.kind,
        severity=decision.severity,
        failing=() if recovered else now_failing,
        since=None if recovered else decision.since,
        destination="(posting)",
        sent_at=now(),
        state="sending",
        thread=thread,
        adhoc=summary.adhoc,
    )
    alert_state.begin(results_engine, sending)
    try:
        posted = post(destination, alert, thread)
    except Exception:
        try:
            alert_state.abandon(results_engine, model.name, window)
        except Exception as exc:  # the database failed too: the row stays `sending`, the retry will not post
            log.error("%s %s: the post failed and the alert state could not be reset (%s)", model.name, window, exc)
        raise
    if recovered and thread is not None and isinstance(destination, Conversational):
        try:
            destination.update(thread, resolved_alert(alert, decision.since, now()))
        except Exception as exc:  # the recovery itself is posted; a stale first message is not worth a retry
            log.warning("%s: the first message of the incident could not be marked resolved: %s", model.name, exc)
    alert_state.finish(
        results_engine,
        replace(
            sending,
            state="sent",
            destination=posted.where,
            message=posted.ref,
            thread=posted.ref if decision.kind == "alert" else thread,
            sent_at=now(),
        ),
    )
    log.info("%s sent to %s (%s)", decision.kind, posted.where, decision.reason)
    return Notified(decision=decision, destination=posted.where)
