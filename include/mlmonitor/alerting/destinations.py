"""Where alerts go: the `Destination` interface, the local alerts file, and `deliver`.

A destination takes a rendered-on-demand `Alert` and says where it went. The core has the local
file; the Airflow layer adds Slack (the provider's hooks) and any Airflow notifier. `deliver` is
the one delivery path of the monitor DAG's `notify` task, the task-failure callback and the CLI.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from mlmonitor.alerting.message import Alert, cut
from mlmonitor.alerting.text import render_text
from mlmonitor.alerting.threads import Conversational, Posted
from mlmonitor.storage.alert_state import MessageRef
from mlmonitor.storage.retention import alerts_lock

log = logging.getLogger(__name__)


class Destination(Protocol):
    """Something that delivers an alert; `send` raises when it could not, and returns where it went."""

    def send(self, alert: Alert) -> str: ...


@dataclass(frozen=True)
class LocalFile:
    """The alerts file (one JSON object per line, appended): where alerts go without Slack."""

    path: Path
    top: int = 5

    def send(self, alert: Alert) -> str:
        record: dict[str, object] = {
            "at": dt.datetime.now(dt.UTC).isoformat(),
            "kind": alert.kind,
            "model": alert.model,
        }
        if alert.window_start is not None:
            record.update(window_start=alert.window_start, status=alert.status)
        record["text"] = text = render_text(alert, self.top)
        with alerts_lock(self.path), self.path.open("a", encoding="utf-8") as handle:  # retention rewrites it
            handle.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
        log.warning("%s of %s written to %s\n%s", alert.kind, alert.model, self.path, text)
        return str(self.path)


class Undelivered(Exception):
    """Some destinations of a `Fanout` did not take the alert (deliberately not an MlmonitorError: the
    notify task fails and Airflow retries it; the window is not marked sent, so a retry sends it again)."""


@dataclass(frozen=True)
class Fanout:
    """Several destinations (Slack and Airflow notifiers): each gets the alert; raises `Undelivered`
    naming the ones that failed, after trying all of them.

    Conversational when its first destination is (Slack with a bot token): `post` and `update` go to
    that one (threads, the recovery's update of the first message), the others get `send`."""

    destinations: tuple[Destination, ...]

    @property
    def conn_id(self) -> str | None:
        """The connection of the first destination (Slack), for notify's "same connection" check."""
        return getattr(self.destinations[0], "conn_id", None) if self.destinations else None

    def send(self, alert: Alert) -> str:
        return self.post(alert, None).where

    def post(self, alert: Alert, thread: MessageRef | None) -> Posted:
        sent: list[str] = []
        failed: list[str] = []
        ref: MessageRef | None = None
        for i, destination in enumerate(self.destinations):
            try:
                if i == 0 and isinstance(destination, Conversational):
                    posted = destination.post(alert, thread)
                    ref = posted.ref
                    sent.append(posted.where)
                else:
                    sent.append(destination.send(alert))
            except Exception as exc:
                name = str(destination) if "__str__" in type(destination).__dict__ else type(destination).__name__
                log.error("%s not delivered to %s: %s: %s", alert.kind, name, type(exc).__name__, exc)
                failed.append(f"{name} ({type(exc).__name__}: {exc})")
        if failed:
            raise Undelivered(
                f"{alert.kind} of {alert.model} not delivered to {'; '.join(failed)}"
                + (f" (delivered to {', '.join(sent)})" if sent else "")
                + ". The window is not marked sent: a retry or the next run sends it to every destination again"
            )
        return Posted(cut(", ".join(sent), 250), ref)

    def update(self, message: MessageRef, alert: Alert) -> None:
        first = self.destinations[0] if self.destinations else None
        if isinstance(first, Conversational):
            first.update(message, alert)

    def identity(self) -> str:
        return " + ".join(identity(d) for d in self.destinations)


def identity(destination: Destination) -> str:
    """What makes two destinations one target, for grouping messages: a destination's own `identity()`
    when it has one (a `Fanout`: its members'; a notifier: its class and arguments), else its type and
    connection, channel and path (Slack: the connection and channel; a file: its path)."""
    own = getattr(destination, "identity", None)
    if callable(own):
        return str(own())
    parts = (type(destination).__name__, *(str(getattr(destination, f, "")) for f in ("conn_id", "channel", "path")))
    return " ".join(parts)


def deliver(alert: Alert, destination: Destination, fallback: Destination | None = None) -> str:
    """Send `alert` to `destination` and say where it went.

    With a `fallback`, a destination that fails hands the alert to it (logged) instead of raising:
    for messages that must never hide another error, such as a task-failure report.
    """
    try:
        return destination.send(alert)
    except Exception as exc:
        if fallback is None:
            raise
        where = fallback.send(alert)
        log.error("%s not delivered (%s: %s); written to %s instead", alert.kind, type(exc).__name__, exc, where)
        return where
