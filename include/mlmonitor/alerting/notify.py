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
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from sqlalchemy.engine import Engine

from mlmonitor.alerting.destinations import Destination, identity
from mlmonitor.alerting.mentions import unique
from mlmonitor.alerting.message import (
    Alert,
    Links,
    Listing,
    alert_from_json,
    alert_to_json,
    build_alert,
    code,
    grouped_alert,
    plain,
    resolved_alert,
)
from mlmonitor.alerting.policy import AlertDecision, apply_mutes, decide_post, failing, severity_of
from mlmonitor.alerting.threads import Conversational, post
from mlmonitor.config import AlertsConfig, ModelConfig, Severity
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


def owners_of(alerts: AlertsConfig, metrics: Sequence[Metric]) -> tuple[str, ...]:
    """The model's owners, then the owners of each failing check and column (no repeats)."""
    bad = [m for m in metrics if m.status != "ok"]
    by_check = [name for m in bad for name in alerts.check_owners.get(m.check, [])]
    by_column = [name for m in bad if m.column for name in alerts.column_owners.get(m.column, [])]
    return unique([*alerts.owners, *by_check, *by_column])


def with_muted(alert: Alert, now_failing: Sequence[str], found: Sequence[mutes.Mute]) -> Alert:
    """`alert` with a list of what fails but is muted or acknowledged (and by whom, until when)."""
    items = []
    for label in now_failing:
        mute = mutes.covering(found, label)
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
    found = mutes.for_window(mutes.active(results_engine, model.name, window.start), window.start)
    decision = apply_mutes(decision, now_failing, found)
    if decision.kind is None:
        if this_window is not None and this_window.state == "sending":
            unconfirmed = replace(this_window, state="sent", destination="(posted, unconfirmed)", payload=None)
            alert_state.finish(results_engine, unconfirmed)
            log.warning("%s %s: %s", model.name, window.label, decision.reason)
        log.info("%s %s: not posted: %s", model.name, summary.status, decision.reason)
        return Notified(decision=decision, destination=None)
    streaks = alert_state.drift_streaks(results_engine, model.name, drifted_columns(metrics), window.start)
    alert = with_muted(
        build_alert(
            decision,
            summary,
            metrics,
            now_failing,
            streaks,
            links,
            owners=owners_of(model.alerts, metrics) if decision.kind != "recovery" else tuple(model.alerts.owners),
            subscribers=model.alerts.subscribers,
        ),
        now_failing,
        found,
    )
    route = decision.severity or (decision.previous.severity if decision.previous else None) or "warning"
    previous = decision.previous if decision.kind != "alert" else None
    destination = destination_for(route)
    # follow-ups reply in the first message's thread when they go through the same connection
    same = previous is not None and previous.destination.split(" ", 1)[0] == getattr(destination, "conn_id", None)
    thread = previous.thread if previous is not None and same else None
    recovered = decision.kind == "recovery"
    row = SentAlert(
        model=model.name,
        window_start=window.start,
        window_end=window.end,
        kind=decision.kind,
        severity=decision.severity,
        failing=() if recovered else now_failing,
        since=decision.since,
        destination="(posting)",
        sent_at=now(),
        state="sending",
        thread=thread,
        adhoc=summary.adhoc,
    )
    if model.alerts.group_threshold is not None:
        payload = json.dumps({"route": route, "alert": alert_to_json(alert)})
        alert_state.record(
            results_engine, replace(row, state="pending", destination="(grouped delivery)", payload=payload)
        )
        log.info("%s queued for the grouped delivery (%s)", decision.kind, decision.reason)
        return Notified(decision=decision, destination="the grouped delivery of this tick (queued)")
    where = _deliver(results_engine, row, alert, destination, now)
    log.info("%s sent to %s (%s)", decision.kind, where, decision.reason)
    return Notified(decision=decision, destination=where)


def _deliver(
    engine: Engine,
    row: SentAlert,
    alert: Alert,
    destination: Destination,
    now: Callable[[], dt.datetime],
    *,
    requeue: bool = False,
) -> str:
    """Post one message with its alert state going `sending` -> `sent`; when the post fails the row is
    removed (a rerun decides again), or with `requeue` (a queued row of the grouped delivery) queued
    again as it was, so the retry of the grouped delivery posts it. A recovery in a thread also marks
    the thread's first message resolved."""
    sending = replace(row, state="sending", payload=None)
    alert_state.begin(engine, sending)
    try:
        posted = post(destination, alert, row.thread)
    except Exception:
        try:
            if requeue:
                alert_state.record(engine, row)
            else:
                alert_state.abandon(engine, row.model, row.window)
        except Exception as exc:  # the database failed too: the row stays `sending`, the retry will not post
            log.error("%s %s: the post failed and the alert state could not be reset (%s)", row.model, row.window, exc)
        raise
    if row.kind == "recovery" and row.thread is not None and isinstance(destination, Conversational):
        try:
            destination.update(row.thread, resolved_alert(alert, row.since, now()))
        except Exception as exc:  # the recovery itself is posted; a stale first message is not worth a retry
            log.warning("%s: the first message of the incident could not be marked resolved: %s", row.model, exc)
    alert_state.finish(
        engine,
        replace(
            sending,
            state="sent",
            destination=posted.where,
            message=posted.ref,
            thread=posted.ref if row.kind == "alert" else row.thread,
            sent_at=now(),
        ),
    )
    return posted.where


@dataclass(frozen=True, kw_only=True)
class GroupedDelivery:
    """What `deliver_pending` did: per destination, how many messages went as one and how many alone."""

    grouped: dict[str, int]
    single: dict[str, int]

    def __str__(self) -> str:
        parts = [f"{n} messages as one to {w}" for w, n in self.grouped.items()]
        parts += [f"{n} message(s) one by one to {w}" for w, n in self.single.items()]
        return "; ".join(parts) or "nothing queued"


def deliver_pending(
    engine: Engine,
    destination_for: Callable[[str, Severity], Destination],
    threshold_of: Callable[[str], int | None],
    now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
) -> GroupedDelivery:
    """Post the queued messages of `engine`'s alert state: per destination, as one grouped message when
    there are at least as many as the smallest `threshold_of(model)` among them, else one by one (with
    their threads). A grouped message starts no thread: the next messages of those models post anew.

    Args:
        engine: the results database holding the queue.
        destination_for: (model, severity) -> where that model's messages of that severity go.
        threshold_of: model -> its `alerts.group_threshold` (None: the model no longer groups).
    """
    queued = [(row, json.loads(row.payload or "{}")) for row in alert_state.pending(engine)]
    by_destination: dict[str, list[tuple[SentAlert, Alert, Destination]]] = {}
    for row, payload in queued:
        destination = destination_for(row.model, payload["route"])
        key = identity(destination)
        by_destination.setdefault(key, []).append((row, alert_from_json(payload["alert"]), destination))
    out = GroupedDelivery(grouped={}, single={})
    for items in by_destination.values():
        limits = [t for t in (threshold_of(row.model) for row, _, _ in items) if t is not None]
        if limits and len(items) >= min(limits):
            destination = items[0][2]
            for row, _, _ in items:
                alert_state.begin(engine, replace(row, state="sending"))
            try:
                posted = post(destination, grouped_alert([a for _, a, _ in items]), None)
            except Exception:
                for row, _, _ in items:  # queued again: the retry posts them
                    alert_state.record(engine, row)
                raise
            for row, _, _ in items:
                alert_state.finish(
                    engine,
                    replace(
                        row,
                        state="sent",
                        destination=posted.where,
                        message=posted.ref,
                        thread=None,
                        payload=None,
                        sent_at=now(),
                    ),
                )
            out.grouped[posted.where] = len(items)
            continue
        for row, alert, destination in items:
            where = _deliver(engine, row, alert, destination, now, requeue=True)
            out.single[where] = out.single.get(where, 0) + 1
    return out
