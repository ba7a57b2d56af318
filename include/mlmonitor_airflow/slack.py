"""Slack delivery through apache-airflow-providers-slack: its hooks and notifiers, with slack_sdk retries.

Both connection types: `slackwebhook` (incoming webhook; the channel is the webhook's) and `slack`
(bot token; chat.postMessage to the configured channel). Without the connection, messages go to the
task log and the local alerts file. Imported at run time only (never at DAG parse time).
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseNotifier

from mlmonitor.alerting.policy import append_local
from mlmonitor.alerting.slack_blocks import SlackMessage, failure_message
from mlmonitor.config import AlertsConfig
from mlmonitor.errors import ConfigError
from mlmonitor.project import default_project

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
    from airflow.exceptions import AirflowNotFoundException
    from airflow.sdk import BaseHook

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


def post(conn_id: str, channel: str | None, message: SlackMessage, alerts: AlertsConfig) -> str:
    """Post `message` through the provider hook of `conn_id`; raises after the retries run out.

    Returns where it went (for the task log and the alert state).
    """
    conn_type = connection_type(conn_id)
    _check(conn_id, conn_type, channel)
    try:
        return _send(conn_id, conn_type, channel, message, alerts)
    except Exception as exc:
        raise SlackUndelivered(
            f"Slack connection {conn_id!r} did not accept the message after {alerts.retries} retries "
            f"({type(exc).__name__}: {exc}). The results are saved and the window is not marked sent: "
            "clear this task (or wait for the next run) to deliver it once Slack is reachable"
        ) from exc


def _send(conn_id: str, conn_type: str | None, channel: str | None, message: SlackMessage, alerts: AlertsConfig) -> str:
    handlers = retry_handlers(alerts)
    if conn_type == WEBHOOK:
        from airflow.providers.slack.hooks.slack_webhook import SlackWebhookHook

        hook = SlackWebhookHook(slack_webhook_conn_id=conn_id, timeout=alerts.timeout_seconds, retry_handlers=handlers)
        hook.send(text=message.text, blocks=message.blocks, unfurl_links=False, unfurl_media=False)
        return f"{conn_id} (webhook)"
    from airflow.providers.slack.hooks.slack import SlackHook

    SlackHook(slack_conn_id=conn_id, timeout=alerts.timeout_seconds, retry_handlers=handlers).call(
        "chat.postMessage",
        json={
            "channel": channel,
            "text": message.text,
            "blocks": message.blocks,
            "unfurl_links": False,
            "unfurl_media": False,
        },
    )
    return f"{conn_id} {channel}"


class FailureNotifier(BaseNotifier):
    """on_failure_callback of the monitoring tasks: the error and the log link, through the provider's
    notifier (SlackNotifier or SlackWebhookNotifier by connection type). Without a usable Slack
    connection, or when Slack fails too, it logs and appends to the local alerts file instead of raising.

    Holds only plain values, so building it at DAG parse time touches no connection or database.
    """

    def __init__(self, model: str, alerts: AlertsConfig) -> None:
        super().__init__()
        self.model = model
        self.alerts = alerts

    def notify(self, context: Any) -> None:
        ti = context.get("ti") or context.get("task_instance")
        error = context.get("exception")
        message = failure_message(
            self.model,
            getattr(ti, "dag_id", "?"),
            getattr(ti, "task_id", "?"),
            str(context.get("run_id") or getattr(ti, "run_id", "?")),
            f"{type(error).__name__}: {error}" if error is not None else "unknown error (see the log)",
            getattr(ti, "log_url", None),
        )
        conn_id, channel = self.alerts.route("critical")
        try:
            self._provider_notifier(conn_id, channel, message).notify(context)
            log.info("task failure sent to Slack connection %s", conn_id)
        except Exception as exc:  # a failure callback must never hide the task's own error
            path = default_project().alerts_file
            log.error("task failure not sent to Slack (%s); written to %s\n%s", exc, path, message.text)
            append_local(
                path,
                {
                    "at": dt.datetime.now(dt.UTC).isoformat(),
                    "kind": "task_failure",
                    "model": self.model,
                    "text": message.text,
                },
            )

    def _provider_notifier(self, conn_id: str, channel: str | None, message: SlackMessage) -> BaseNotifier:
        conn_type = connection_type(conn_id)
        if conn_type is None:
            raise ConfigError(f"no Slack connection {conn_id!r}")
        _check(conn_id, conn_type, channel)
        common = {
            "text": message.text,
            "blocks": message.blocks,
            "timeout": self.alerts.timeout_seconds,
            "retry_handlers": retry_handlers(self.alerts),
            "unfurl_links": False,
            "unfurl_media": False,
        }
        if conn_type == WEBHOOK:
            from airflow.providers.slack.notifications.slack_webhook import SlackWebhookNotifier

            return SlackWebhookNotifier(slack_webhook_conn_id=conn_id, **common)
        from airflow.providers.slack.notifications.slack import SlackNotifier

        return SlackNotifier(slack_conn_id=conn_id, channel=channel, **common)
