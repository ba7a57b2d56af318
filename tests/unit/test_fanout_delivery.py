"""Delivery through a `Fanout` (Slack plus notifiers) and the grouped delivery, on a real SQLite results
database: grouping keeps channels apart, a Fanout keeps Slack's threads, a failed one-by-one post stays
queued. The destinations here record what they get (they stand for Slack and a notifier; the code under
test is the delivery: notify, Fanout, the alert state)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest
import sqlalchemy as sa

from mlmonitor.alerting.destinations import Destination, Fanout
from mlmonitor.alerting.message import Alert, Links
from mlmonitor.alerting.notify import deliver_pending, notify_window
from mlmonitor.alerting.threads import Posted
from mlmonitor.config import ModelConfig
from mlmonitor.metrics import Metric, RunSummary
from mlmonitor.storage import alert_state
from mlmonitor.storage.alert_state import MessageRef
from mlmonitor.storage.results import write_results
from mlmonitor.window import Window
from tests.factories import model_config

T0 = dt.datetime(2024, 4, 1, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)


@dataclass
class Channel:
    """A Slack channel through a bot token: posts (threads) and updates, recorded."""

    conn_id: str
    channel: str
    posts: list[tuple[Alert, MessageRef | None]] = field(default_factory=list)
    updates: list[MessageRef] = field(default_factory=list)
    fail: int = 0

    def send(self, alert: Alert) -> str:
        return self.post(alert, None).where

    def post(self, alert: Alert, thread: MessageRef | None) -> Posted:
        if self.fail:
            self.fail -= 1
            raise ConnectionError(f"{self.channel} down")
        self.posts.append((alert, thread))
        return Posted(f"{self.conn_id} {self.channel}", MessageRef(self.channel, f"{len(self.posts)}.0"))

    def update(self, message: MessageRef, alert: Alert) -> None:
        self.updates.append(message)


@dataclass
class Notifier:
    """A notifier (send only), recorded."""

    name: str
    sent: list[Alert] = field(default_factory=list)

    def send(self, alert: Alert) -> str:
        self.sent.append(alert)
        return self.name


@pytest.fixture
def results(tmp_path: Path) -> sa.Engine:
    return sa.create_engine(f"sqlite:///{tmp_path / 'results.db'}")


def _window(engine: sa.Engine, model: ModelConfig, day: int, status: str, to: Destination, column: str = "c0") -> str:
    start = T0 + day * DAY
    summary = RunSummary(
        model=model.name,
        window_start=start.isoformat(),
        window_end=(start + DAY).isoformat(),
        rows=10,
        model_versions={},
        status=status,  # type: ignore[arg-type]
        failed_expectations=0,
        drifted_features=int(status != "ok"),
    )
    rows = [Metric(check="drift", column=column, metric="psi", value=0.5 if status != "ok" else 0.01, status=status)]  # type: ignore[arg-type]
    write_results(engine, summary, rows, dt.datetime(2024, 5, 1))
    return str(notify_window(model, summary, rows, engine, Links(), lambda severity: to))


def test_grouped_delivery_keeps_fanouts_to_different_channels_apart(results: sa.Engine) -> None:
    a_slack, b_slack, a_mail, b_mail = (
        Channel("slack", "#team-a"),
        Channel("slack", "#team-b"),
        Notifier("mail"),
        Notifier("mail"),
    )
    fanouts = {"a": Fanout((a_slack, a_mail)), "b": Fanout((b_slack, b_mail))}
    for name in ("a", "b"):
        model = model_config(name, alerts={"group_threshold": 2})
        assert "queued" in _window(results, model, 0, "warning", fanouts[name])
    done = deliver_pending(results, lambda model, severity: fanouts[model], lambda model: 2)
    # each channel got its own model's message, alone (one per channel is below the threshold)
    assert [a.model for a, _ in a_slack.posts] == ["a"] and [a.model for a, _ in b_slack.posts] == ["b"]
    assert [a.model for a in a_mail.sent] == ["a"] and [a.model for a in b_mail.sent] == ["b"]
    assert not done.grouped and sum(done.single.values()) == 2


def test_a_fanout_keeps_the_slack_thread_and_updates_the_first_message(results: sa.Engine) -> None:
    slack, mail = Channel("slack", "#ml"), Notifier("mail")
    to = Fanout((slack, mail))
    model = model_config("a")
    assert _window(results, model, 0, "warning", to).startswith("alert sent to slack #ml, mail")
    first = alert_state.for_window(results, "a", Window(T0, T0 + DAY))[0]
    assert first is not None and first.thread == MessageRef("#ml", "1.0")
    assert _window(results, model, 1, "ok", to).startswith("recovery sent")
    assert [(a.kind, thread) for a, thread in slack.posts] == [("alert", None), ("recovery", MessageRef("#ml", "1.0"))]
    assert slack.updates == [MessageRef("#ml", "1.0")]  # the first message marked resolved
    assert [a.kind for a in mail.sent] == ["alert", "recovery"]  # the notifier gets every message


def test_a_failed_one_by_one_post_stays_queued_for_the_retry(results: sa.Engine) -> None:
    slack = Channel("slack", "#ml", fail=1)
    model = model_config("a", alerts={"group_threshold": 5})
    assert "queued" in _window(results, model, 0, "warning", slack)
    with pytest.raises(ConnectionError):
        deliver_pending(results, lambda m, s: slack, lambda m: 5)
    [row] = alert_state.pending(results)  # still queued, with its payload
    assert row.state == "pending" and row.payload
    done = deliver_pending(results, lambda m, s: slack, lambda m: 5)  # the retry posts it
    assert done.single == {"slack #ml": 1} and [a.model for a, _ in slack.posts] == ["a"]
    assert alert_state.pending(results) == []
    sent = alert_state.for_window(results, "a", Window(T0, T0 + DAY))[0]
    assert sent is not None and replace(sent, sent_at=T0).state == "sent"
