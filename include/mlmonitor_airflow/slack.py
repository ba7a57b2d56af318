"""The Slack destination (apache-airflow-providers-slack's hooks, with slack_sdk retries) and the
task-failure notifier.

Both connection types: `slackwebhook` (incoming webhook; the channel is the webhook's) and `slack`
(bot token; chat.postMessage to the configured channel, replies in the thread of an incident's first
message, chat.update of that message on recovery, and users.lookupByEmail for owners given by e-mail).
Without the connection, messages go to the
local alerts file (`mlmonitor.alerting.destinations.LocalFile`). Imported at run time only (never at
DAG parse time; the DAG factory only builds the notifier object).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from airflow.sdk import BaseNotifier

from mlmonitor.alerting.destinations import Destination, LocalFile, deliver
from mlmonitor.alerting.message import Alert, failure_alert
from mlmonitor.alerting.slack_blocks import SlackMessage, render_slack
from mlmonitor.alerting.threads import Posted
from mlmonitor.config import AlertsConfig, Severity
from mlmonitor.errors import ConfigError
from mlmonitor.project import default_project
from mlmonitor.storage.alert_state import MessageRef

if TYPE_CHECKING:
    from slack_sdk.http_retry import RetryHandler

log = logging.getLogger(__name__)
WEBHOOK, BOT = "slackwebhook", "slack"


class SlackUndelivered(Exception):
    """Slack did not take a message after all retries. Deliberately not an MlmonitorError: the task
    fails and Airflow retries it, since Slack being down is transient."""


def retry_handlers(alerts: AlertsConfig) -> list[RetryHandler]:
    """Retries inside one post: 429 after Retry-After, any 5xx and timeouts / dropped connections
    with exponential backoff (`retry_backoff_seconds` x 2^attempt)."""
    from http.client import RemoteDisconnected
    from urllib.error import URLError

    from slack_sdk.http_retry.builtin_handlers import (
        ConnectionErrorRetryHandler,
        RateLimitErrorRetryHandler,
        ServerErrorRetryHandler,
    )
    from slack_sdk.http_retry.builtin_interval_calculators import BackoffRetryIntervalCalculator

    class AnyServerErrorRetryHandler(ServerErrorRetryHandler):
        """slack_sdk's own retries only 500 and 503; a 502 or 504 from a proxy is as transient."""

        def _can_retry(self, *, state: Any, request: Any, response: Any = None, error: Any = None) -> bool:
            return response is not None and response.status_code >= 500

    backoff = BackoffRetryIntervalCalculator(backoff_factor=alerts.retry_backoff_seconds)
    n = alerts.retries
    return [
        RateLimitErrorRetryHandler(max_retry_count=n),
        AnyServerErrorRetryHandler(max_retry_count=n, interval_calculator=backoff),
        ConnectionErrorRetryHandler(
            max_retry_count=n,
            interval_calculator=backoff,
            error_types=[URLError, ConnectionResetError, RemoteDisconnected, TimeoutError],
        ),
    ]


def connection_type(conn_id: str) -> str | None:
    """The type of connection `conn_id`, or None when it does not exist."""
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        return str(BaseHook.get_connection(conn_id).conn_type)
    except AirflowNotFoundException:
        return None


def _check(conn_id: str, conn_type: str | None, channel: str | None) -> None:
    if conn_type not in {WEBHOOK, BOT}:
        raise ConfigError(
            f"Slack connection {conn_id!r} has type {conn_type!r}; make it type {WEBHOOK!r} (incoming webhook) "
            f"or {BOT!r} (bot token), or point alerts.slack_conn_id in the model YAML at another connection"
        )
    if conn_type == BOT and not channel:
        raise ConfigError(
            f"Slack connection {conn_id!r} is a bot token ({BOT!r}), which needs a channel: set alerts.channel "
            "(or alerts.warning.channel / alerts.critical.channel) in the model YAML"
        )


_users: dict[tuple[str, str], str | None] = {}  # (connection id, e-mail) -> user id: this process's cache


def lookup_email(conn_id: str, email: str, alerts: AlertsConfig) -> str | None:
    """The Slack user id of `email` by users.lookupByEmail on bot connection `conn_id` (needs the
    `users:read.email` scope), cached per process, unknown and failed lookups included (None)."""
    key = (conn_id, email.lower())
    if key not in _users:
        try:
            response = _hook(conn_id, alerts).call("users.lookupByEmail", params={"email": email})
            _users[key] = str(response["user"]["id"])
        except Exception as exc:  # users_not_found, a missing scope, Slack down: shown as plain text
            log.warning("could not resolve %s on %r (%s): named as plain text", email, conn_id, exc)
            _users[key] = None
    return _users[key]


def _hook(conn_id: str, alerts: AlertsConfig) -> Any:
    from airflow.providers.slack.hooks.slack import SlackHook

    return SlackHook(slack_conn_id=conn_id, timeout=alerts.timeout_seconds, retry_handlers=retry_handlers(alerts))


@dataclass(frozen=True)
class SlackDestination:
    """Slack through the provider's hooks: `slackwebhook` posts to the webhook's own channel, `slack`
    (bot token) calls chat.postMessage on `channel` (or in a thread), and chat.update. Retries per
    `alerts` (see `retry_handlers`)."""

    conn_id: str
    channel: str | None
    alerts: AlertsConfig

    def send(self, alert: Alert) -> str:
        return self.post(alert, None).where

    def post(self, alert: Alert, thread: MessageRef | None) -> Posted:
        """Post `alert`: with a bot token in reply to `thread` when given (in the thread's channel),
        else to the channel; a webhook ignores `thread` (it cannot reply or say where it posted)."""
        conn_type = connection_type(self.conn_id)
        _check(self.conn_id, conn_type, self.channel)
        lookup = None if conn_type == WEBHOOK else (lambda email: lookup_email(self.conn_id, email, self.alerts))
        message = render_slack(alert, self.alerts.top, lookup)
        try:
            return self._send(conn_type, message, thread)
        except Exception as exc:
            raise SlackUndelivered(
                f"Slack connection {self.conn_id!r} did not accept the message after {self.alerts.retries} retries "
                f"({type(exc).__name__}: {exc}). The results are saved and the window is not marked sent: "
                "clear this task (or wait for the next run) to deliver it once Slack is reachable"
            ) from exc

    def update(self, message: MessageRef, alert: Alert) -> None:
        """Replace a posted message (chat.update; bot token only, a webhook's messages cannot be found)."""
        if connection_type(self.conn_id) != BOT:
            return
        lookup = lambda email: lookup_email(self.conn_id, email, self.alerts)  # noqa: E731
        rendered = render_slack(alert, self.alerts.top, lookup)
        _hook(self.conn_id, self.alerts).call(
            "chat.update",
            json={"channel": message.channel, "ts": message.ts, "text": rendered.text, "blocks": rendered.blocks},
        )

    def _send(self, conn_type: str | None, message: SlackMessage, thread: MessageRef | None) -> Posted:
        if conn_type == WEBHOOK:
            from airflow.providers.slack.hooks.slack_webhook import SlackWebhookHook

            hook = SlackWebhookHook(
                slack_webhook_conn_id=self.conn_id,
                timeout=self.alerts.timeout_seconds,
                retry_handlers=retry_handlers(self.alerts),
            )
            hook.send(text=message.text, blocks=message.blocks, unfurl_links=False, unfurl_media=False)
            return Posted(f"{self.conn_id} (webhook)")
        body: dict[str, Any] = {
            "channel": thread.channel if thread else self.channel,
            "text": message.text,
            "blocks": message.blocks,
            "unfurl_links": False,
            "unfurl_media": False,
        }
        if thread:
            body["thread_ts"] = thread.ts
        hook = _hook(self.conn_id, self.alerts)
        try:
            response = hook.call("chat.postMessage", json=body)
        except Exception as exc:
            from slack_sdk.errors import SlackApiError

            if thread is None or not isinstance(exc, SlackApiError):
                raise
            # Slack answered but refused the reply (thread or channel gone, bot removed): post on the route
            log.warning("reply in thread %s refused (%s): posting to %s instead", thread.ts, exc, self.channel)
            return self._send(conn_type, message, None)
        channel, ts = cast(Any, response).get("channel"), cast(Any, response).get("ts")
        ref = MessageRef(str(channel), str(ts)) if channel and ts else None
        where = f"{self.conn_id} " + (f"{thread.channel} (thread {thread.ts})" if thread else f"{self.channel}")
        return Posted(where, ref)


def destination_for(alerts: AlertsConfig, severity: Severity) -> Destination:
    """Slack on the severity's route when its connection exists, else the local alerts file."""
    conn_id, channel = alerts.route(severity)
    if connection_type(conn_id) is not None:
        return SlackDestination(conn_id, channel, alerts)
    log.warning("no Slack connection %r: %s messages go to the local alerts file", conn_id, severity)
    return LocalFile(default_project().alerts_file, alerts.top)


class FailureNotifier(BaseNotifier):
    """on_failure_callback of the monitoring tasks: the error and the log link to the critical route
    (Slack, or the local alerts file without a Slack connection). When Slack fails too it writes the
    local file instead of raising: a failure callback must never hide the task's own error.

    Holds only plain values, so building it at DAG parse time touches no connection or database.
    """

    def __init__(self, model: str, alerts: AlertsConfig) -> None:
        super().__init__()
        self.model = model
        self.alerts = alerts

    def _destination(self) -> Destination:
        """The critical route with its Airflow notifiers; Slack alone when a notifier is misconfigured
        (the task's own error may be that very ConfigError)."""
        from mlmonitor_airflow.notifiers import destinations_for

        try:
            return destinations_for(self.model, self.alerts, "critical")
        except ConfigError as exc:
            log.error("task failure goes to Slack only: %s", exc)
            return destination_for(self.alerts, "critical")

    def notify(self, context: Any) -> None:
        ti = context.get("ti") or context.get("task_instance")
        error = context.get("exception")
        alert = failure_alert(
            self.model,
            getattr(ti, "dag_id", "?"),
            getattr(ti, "task_id", "?"),
            str(context.get("run_id") or getattr(ti, "run_id", "?")),
            f"{type(error).__name__}: {error}" if error is not None else "unknown error (see the log)",
            getattr(ti, "log_url", None),
        )
        local = LocalFile(default_project().alerts_file, self.alerts.top)
        where = deliver(alert, self._destination(), fallback=local)
        log.info("task failure sent to %s", where)
