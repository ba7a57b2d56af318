"""Destinations that keep an incident in one conversation (Slack with a bot token).

A `Conversational` destination posts a message and says where it is (`MessageRef`), can reply in the
thread of an earlier message, and can update that first message when the incident resolves. Other
destinations (a webhook, the local file, a notifier) only `send`; `post` treats them alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from mlmonitor.alerting.message import Alert
from mlmonitor.storage.alert_state import MessageRef

if TYPE_CHECKING:
    from mlmonitor.alerting.destinations import Destination


@dataclass(frozen=True)
class Posted:
    """Where a message went (for the log and the alert state) and, when known, the message itself."""

    where: str
    ref: MessageRef | None = None


@runtime_checkable
class Conversational(Protocol):
    """A destination with threads: `post` in reply to `thread` (None: a new message) and `update` a
    posted message in place."""

    def send(self, alert: Alert) -> str: ...

    def post(self, alert: Alert, thread: MessageRef | None) -> Posted: ...

    def update(self, message: MessageRef, alert: Alert) -> None: ...


def post(destination: Destination, alert: Alert, thread: MessageRef | None) -> Posted:
    """Post `alert` (in `thread` where the destination has threads, else as a message of its own)."""
    if isinstance(destination, Conversational):
        return destination.post(alert, thread)
    return Posted(destination.send(alert))
