"""Slack delivery of the notify task through the real provider hooks and slack_sdk, over HTTP to a
local recording server: exact payloads, no duplicates, change, recovery, retries, both connection types."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from mlmonitor.alerting.message import Links, build_alert
from mlmonitor.alerting.policy import AlertDecision, failing
from mlmonitor.alerting.slack_blocks import render_slack
from mlmonitor.metrics import Metric, RunSummary
from mlmonitor.storage import alert_state
from mlmonitor.storage.alert_state import SentAlert
from mlmonitor.storage.results import read_runs, write_results
from mlmonitor.window import Window
from mlmonitor_airflow.slack import SlackUndelivered
from tests.factories import drift_metric

T0 = dt.datetime(2024, 4, 1, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
BASE = "http://airflow.test"
MODEL_YAML = """\
name: carloan
warehouse_conn_id: mlmonitor_warehouse
training: {table: carloan_training}
serving: {table: carloan_serving_logs, timestamp_column: timestamp, id_column: id}
prediction: {column: y_pred_proba, task: classification}
start_date: 2024-03-01
alerts:
  channel: "#ml-alerts"
  critical: {channel: "#ml-critical"}
  retries: 2
  retry_backoff_seconds: 0.01
"""


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, gx_root: Path) -> sa.Engine:
    models = tmp_path / "models"
    models.mkdir()
    (models / "carloan.yaml").write_text(MODEL_YAML)
    monkeypatch.setenv("MLMONITOR_MODELS_DIR", str(models))
    monkeypatch.setenv(
        "AIRFLOW_CONN_MLMONITOR_WAREHOUSE", json.dumps({"conn_type": "sqlite", "host": str(tmp_path / "w.db")})
    )
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", BASE)
    monkeypatch.delenv("AIRFLOW_CONN_MLMONITOR_SLACK", raising=False)
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'w.db'}")
    yield engine
    engine.dispose()


@pytest.fixture(params=["slackwebhook", "slack"])
def slack(request: pytest.FixtureRequest, slack_server: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The recording server behind a Slack connection of each type."""
    webhook = request.param == "slackwebhook"
    conn = slack_server.webhook_connection() if webhook else slack_server.bot_connection()
    monkeypatch.setenv("AIRFLOW_CONN_MLMONITOR_SLACK", conn)
    slack_server.webhook = webhook
    return slack_server


DRIFT_INCOME = drift_metric("income")
DRIFT_REGION = Metric(
    check="drift",
    column="region",
    metric="psi",
    value=0.2,
    status="warning",
    threshold=0.1,
    p_value=1e-4,
    details={"method": "psi+chi2"},
)
NULLS = Metric(
    check="validation",
    column="credit_score",
    metric="expect_column_values_to_not_be_null",
    value=35.0,
    status="alert",
    threshold=0.99,
    details={"kwargs": {"column": "credit_score", "mostly": 0.99}, "unexpected_count": 420, "element_count": 1200},
)
HEALTHY = [
    Metric(
        check="drift",
        column="income",
        metric="psi",
        value=0.01,
        status="ok",
        threshold=0.1,
        p_value=0.9,
        details={"method": "psi+chi2"},
    )
]


def _win(day: int) -> Window:
    return Window(T0 + day * DAY, T0 + (day + 1) * DAY)


def _window(day: int, metrics: list[Metric], engine: sa.Engine) -> tuple[RunSummary, list[Metric]]:
    """Persist a window's results the way the persist task does, and return what notify receives."""
    from mlmonitor.config import get_model
    from mlmonitor.pipeline import summarize
    from mlmonitor.window import Window

    window = Window(T0 + day * DAY, T0 + (day + 1) * DAY)
    summary = summarize(get_model("carloan"), window, 1200, {"1.0.0": 1200}, metrics, None, f"run_{day}")
    write_results(engine, summary, metrics, T0)
    return summary, metrics


def _notify(summary: RunSummary, metrics: list[Metric]) -> str:
    from mlmonitor_airflow import tasks

    stats = {"metrics": [m.to_dict() for m in metrics]}
    return tasks.notify("carloan", summary.to_dict(), stats, {"metrics": []}, True, "mlmonitor_carloan")


def _expected(
    kind: str, summary: RunSummary, metrics: list[Metric], since: int, streaks: dict[str, int], prev: SentAlert | None
) -> dict[str, Any]:
    from mlmonitor.alerting.policy import severity_of
    from mlmonitor.ui.links import airflow_run_url, dashboard_url

    decision = AlertDecision(
        kind=kind, reason="", severity=severity_of(summary.status), since=T0 + since * DAY, previous=prev
    )  # type: ignore[arg-type]
    links = Links(
        dashboard=dashboard_url(BASE, "carloan"),
        run=airflow_run_url(BASE, "mlmonitor_carloan", summary.airflow_run_id),
    )
    msg = render_slack(build_alert(decision, summary, metrics, failing(summary, metrics), streaks, links))
    return {"text": msg.text, "blocks": msg.blocks, "unfurl_links": False, "unfurl_media": False}


def test_alert_change_recovery_without_duplicates(env: sa.Engine, slack: Any) -> None:
    """One streak: alert, quiet, change, recovery. With a bot token it is one conversation: the alert is a
    channel message, the change and the recovery reply in its thread (in the alert's channel, whatever
    their severity's channel), and the recovery updates the alert to say resolved. A webhook posts each
    message on its own channel as before."""
    slack_server, webhook = slack, slack.webhook
    root = "1700000000.000100"  # the ts the server gives the first message

    def channel(name: str, reply: bool = True) -> dict[str, str]:
        if webhook:
            return {}
        return {"channel": "CMLCRITICAL", "thread_ts": root} if reply else {"channel": name}

    # day 0: the first alerting window (critical: a failed expectation) posts an alert
    s0, m0 = _window(0, [DRIFT_INCOME, NULLS], env)
    assert _notify(s0, m0).startswith("alert sent to mlmonitor_slack")
    first = _expected("alert", s0, m0, 0, {"income": 1}, None)
    assert slack_server.bodies() == [{**channel("#ml-critical", reply=False), **first}]
    assert first["blocks"][0]["text"]["text"] == "🚨 CRITICAL · carloan: ALERT"
    assert (
        (slack_server.requests[0][0] == "/services/T0/B0/secret")
        if webhook
        else (slack_server.requests[0][0] == "/api/chat.postMessage")
    )
    # a rerun of the window posts nothing
    assert _notify(s0, m0).startswith("not posted: a alert was already sent for this window")
    # day 1: the same things fail: quiet
    s1, m1 = _window(1, [DRIFT_INCOME, NULLS], env)
    assert "unchanged since the alert" in _notify(s1, m1)
    assert len(slack_server.requests) == 1
    # day 2: expectations pass but region drifts too: a change, a warning now, since day 0
    s2, m2 = _window(2, [DRIFT_INCOME, DRIFT_REGION], env)
    assert _notify(s2, m2).startswith("change sent")
    prev = alert_state.for_window(env, "carloan", _win(2))[1]
    change = _expected("change", s2, m2, 0, {"income": 3, "region": 1}, prev)
    assert slack_server.bodies()[1] == {**channel("#ml-alerts"), **change}
    assert change["blocks"][2:4] == [
        {"type": "section", "text": {"type": "mrkdwn", "text": "*Newly failing (1)*\ndrift:psi(region)"}},
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": "*No longer failing (1)*\nvalidation:expect_column_values_to_not_be_null(credit_score)",
            },
        },
    ]
    # day 3: healthy: a recovery (to the channel of the last alert's severity); day 4: quiet
    s3, m3 = _window(3, HEALTHY, env)
    assert _notify(s3, m3).startswith("recovery sent")
    prev = alert_state.for_window(env, "carloan", _win(3))[1]
    assert slack_server.bodies()[2] == {**channel("#ml-alerts"), **_expected("recovery", s3, m3, 0, {}, prev)}
    s4, m4 = _window(4, HEALTHY, env)
    assert _notify(s4, m4).startswith("not posted")
    assert len(slack_server.bodies()) == 3
    with env.connect() as c:
        rows = c.execute(
            sa.text("select kind, severity, slack_channel, thread_ts from mlmonitor_alerts order by window_start")
        ).all()
    if webhook:
        assert [tuple(r) for r in rows] == [
            ("alert", "critical", None, None),
            ("change", "warning", None, None),
            ("recovery", None, None, None),
        ]
        assert slack_server.calls("chat.update") == []
        return
    assert [tuple(r) for r in rows] == [
        ("alert", "critical", "CMLCRITICAL", root),
        ("change", "warning", "CMLCRITICAL", root),
        ("recovery", None, "CMLCRITICAL", root),
    ]
    # the first message now says resolved, since when and by which window
    (update,) = slack_server.calls("chat.update")
    assert (update["channel"], update["ts"]) == ("CMLCRITICAL", root)
    resolved = slack_server.messages[root]
    assert resolved["blocks"][0]["text"]["text"] == "✅ RESOLVED · carloan: resolved"
    assert resolved["blocks"][1]["fields"][1:3] == [
        {"type": "mrkdwn", "text": "*Failing since*\nwindow of 2024-04-01 00:00"},
        {"type": "mrkdwn", "text": "*Resolved by*\nwindow of 2024-04-04 00:00"},
    ]
    # the next incident starts a new conversation
    s5, m5 = _window(5, [DRIFT_INCOME], env)
    assert _notify(s5, m5).startswith("alert sent to mlmonitor_slack #ml-alerts: first alerting window")
    assert "thread_ts" not in slack_server.bodies()[-1]


def test_429_is_retried_after_retry_after(env: sa.Engine, slack: Any) -> None:
    slack_server = slack
    slack_server.script = [(429, {"Retry-After": "1"})]
    s0, m0 = _window(0, [DRIFT_INCOME], env)
    assert _notify(s0, m0).startswith("alert sent")
    bodies = slack_server.bodies()
    assert len(bodies) == 2 and bodies[0] == bodies[1]
    assert alert_state.for_window(env, "carloan", _win(0))[0] is not None


def test_a_timeout_is_retried(
    env: sa.Engine, slack_server: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    yaml = tmp_path / "models" / "carloan.yaml"
    yaml.write_text(MODEL_YAML + "  timeout_seconds: 1\n")
    monkeypatch.setenv("AIRFLOW_CONN_MLMONITOR_SLACK", slack_server.webhook_connection())
    slack_server.script = [(200, {}, 3)]
    s0, m0 = _window(0, [DRIFT_INCOME], env)
    assert _notify(s0, m0).startswith("alert sent")
    bodies = slack_server.bodies()
    assert len(bodies) == 2 and bodies[0] == bodies[1]


def test_slack_down_fails_loudly_keeps_results_and_a_later_run_delivers(env: sa.Engine, slack: Any) -> None:
    slack_server = slack
    slack_server.script = [(500, {})] * 3 + [(503, {})]  # more failures than 1 try + 2 retries
    s0, m0 = _window(0, [DRIFT_INCOME], env)
    with pytest.raises(SlackUndelivered, match="'mlmonitor_slack' did not accept the message after 2 retries"):
        _notify(s0, m0)
    assert len(slack_server.requests) == 3  # the first try and two retries
    assert [r["status"] for r in read_runs(env, "carloan")] == ["warning"]  # results kept
    assert alert_state.for_window(env, "carloan", _win(0)) == (None, None)  # not marked sent
    # Slack is back (one scripted 503 left, then 200): the rerun delivers the same alert once
    assert _notify(s0, m0).startswith("alert sent")
    bodies = slack_server.bodies()
    assert len(bodies) == 5 and bodies[-1] == bodies[0]
    assert alert_state.for_window(env, "carloan", _win(0))[0] is not None


def test_without_a_slack_connection_alerts_go_to_the_local_file(env: sa.Engine, gx_root: Path) -> None:
    s0, m0 = _window(0, [DRIFT_INCOME], env)
    assert _notify(s0, m0).startswith(f"alert sent to {gx_root}")
    assert _notify(s0, m0).startswith("not posted")
    s1, m1 = _window(1, HEALTHY, env)
    assert _notify(s1, m1).startswith("recovery sent")
    lines = [json.loads(x) for x in (gx_root / "gx/uncommitted/alerts.jsonl").read_text().splitlines()]
    assert [(x["kind"], x["status"]) for x in lines] == [("alert", "warning"), ("recovery", "ok")]
    assert "`income` (psi+chi2): effect size 0.3 vs threshold 0.1" in lines[0]["text"]


def test_a_bot_connection_without_channel_is_a_config_error(
    env: sa.Engine, slack_server: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from mlmonitor.errors import ConfigError

    yaml = tmp_path / "models" / "carloan.yaml"
    yaml.write_text(
        MODEL_YAML.replace('  channel: "#ml-alerts"\n', "").replace('  critical: {channel: "#ml-critical"}\n', "")
    )
    monkeypatch.setenv("AIRFLOW_CONN_MLMONITOR_SLACK", slack_server.bot_connection())
    s0, m0 = _window(0, [DRIFT_INCOME], env)
    with pytest.raises(ConfigError, match=r"needs a channel: set alerts\.channel"):
        _notify(s0, m0)
    assert slack_server.requests == []


OWNERS_YAML = """\
  owners: [U0OWNER, alice@example.com, bob@example.com]
  subscribers: ["<!subteam^S0TEAM>"]
  check_owners: {validation: [carol@example.com]}
"""


def test_owners_and_subscribers_are_mentioned_resolved_or_as_plain_text(
    env: sa.Engine, slack: Any, tmp_path: Path
) -> None:
    """User ids and groups are mentions on both connection types; e-mails are looked up once (cached) with a
    bot token, and stay plain text when unknown (bob) or when the connection is a webhook."""
    from mlmonitor_airflow import slack as slack_module

    slack_module._users.clear()  # the per-process cache, shared with other tests
    (tmp_path / "models" / "carloan.yaml").write_text(MODEL_YAML + OWNERS_YAML)
    slack.users = {"alice@example.com": "U0ALICE", "carol@example.com": "U0CAROL"}
    s0, m0 = _window(0, [DRIFT_INCOME, NULLS], env)
    assert _notify(s0, m0).startswith("alert sent")
    if slack.webhook:
        people = (
            "Owners: <@U0OWNER>, alice@example.com, bob@example.com, carol@example.com · Subscribers: <!subteam^S0TEAM>"
        )
    else:
        people = "Owners: <@U0OWNER>, <@U0ALICE>, bob@example.com, <@U0CAROL> · Subscribers: <!subteam^S0TEAM>"
    body = slack.bodies()[0]
    assert body["blocks"][2] == {"type": "section", "text": {"type": "mrkdwn", "text": people}}
    assert people in body["text"]  # the notification text mentions them too
    lookups = [call["email"] for call in slack.calls("users.lookupByEmail")]
    assert lookups == ([] if slack.webhook else ["alice@example.com", "bob@example.com", "carol@example.com"])
    # the change (validation passes now: carol is no longer named) looks nobody up again
    s1, m1 = _window(1, [DRIFT_INCOME], env)
    assert _notify(s1, m1).startswith("change sent")
    assert "carol" not in slack.bodies()[1]["blocks"][2]["text"]["text"]
    assert len(slack.calls("users.lookupByEmail")) == len(lookups)


def test_hostile_values_are_inert_in_slack(env: sa.Engine, slack: Any) -> None:
    """Serving values, versions and error text reach Slack escaped: no channel ping, no disguised link; long
    values are cut."""
    from mlmonitor.config import get_model
    from mlmonitor.pipeline import summarize
    from mlmonitor.window import Window

    hostile = Metric(
        check="validation",
        column="region",
        metric="expect_column_values_to_be_in_set",
        value=3.0,
        status="alert",
        details={
            "kwargs": {"column": "region", "value_set": ["north", "<!here>"]},
            "unexpected_count": 3,
            "partial_unexpected_counts": [
                {"value": "<!channel>", "count": 2},
                {"value": "a&b" + "x" * 5000, "count": 1},
            ],
        },
    )
    versions = {"<https://evil.example|Data Docs>": 600, "v" * 5000: 600}
    window = Window(T0, T0 + DAY)
    summary = summarize(get_model("carloan"), window, 1200, versions, [hostile], None, "run_0")
    write_results(env, summary, [hostile], T0)
    assert _notify(summary, [hostile]).startswith("alert sent")
    sent = json.dumps(slack.bodies()[0], ensure_ascii=False)
    for raw in ("<!channel>", "<!here>", "<https://evil"):
        assert raw not in sent
    assert "&lt;!channel&gt;" in sent and "&lt;https://evil.example|Data Docs&gt;" in sent and "a&amp;b" in sent
    assert "x" * 100 not in sent and "v" * 100 not in sent  # cut
    links = slack.bodies()[0]["blocks"][-1]["text"]["text"]
    assert links.startswith(f"<{BASE}/mlmonitor/") and links.count("<") == 2  # only our links


def test_an_adhoc_window_does_not_hide_the_daily_alert(env: sa.Engine, slack: Any) -> None:
    """Ad-hoc [00:00, 02:00) alerts on its own; the daily window of the same day still posts its alert, and
    later windows are compared with the daily one; a healthy ad-hoc window posts no recovery."""
    from mlmonitor.config import get_model
    from mlmonitor.pipeline import summarize
    from mlmonitor.window import Window

    def adhoc(day: int, metrics: list[Metric]) -> RunSummary:
        window = Window(T0 + day * DAY, T0 + day * DAY + dt.timedelta(hours=2))
        summary = replace(summarize(get_model("carloan"), window, 50, {"1.0.0": 50}, metrics), adhoc=True)
        write_results(env, summary, metrics, T0)
        return summary

    a0 = adhoc(0, [DRIFT_INCOME])
    assert _notify(a0, [DRIFT_INCOME]).startswith("alert sent")
    assert _notify(a0, [DRIFT_INCOME]).startswith("not posted: a alert was already sent")
    s0, m0 = _window(0, [DRIFT_INCOME], env)
    assert _notify(s0, m0).endswith(": first alerting window")
    assert _notify(s0, m0).startswith("not posted") and len(slack.bodies()) == 2
    a1 = adhoc(1, HEALTHY)
    assert _notify(a1, HEALTHY).startswith("not posted: healthy")
    s1, m1 = _window(1, [DRIFT_INCOME], env)
    assert "unchanged since the alert for window 2024-04-01 00:00" in _notify(s1, m1)
    assert len(slack.bodies()) == 2


def test_ten_models_alerts_of_one_tick_are_one_message(
    env: sa.Engine, slack: Any, tmp_path: Path, airflow_db: Path
) -> None:
    """With `group_threshold: 5` the notify tasks queue their messages; the grouped delivery DAG posts the
    ten of one tick as one message (a section per model with its own links), and below the threshold one by
    one."""
    from mlmonitor.config import get_model, load_models
    from mlmonitor.pipeline import summarize
    from mlmonitor_airflow import tasks
    from mlmonitor_airflow.dag_factory import GROUPED_DAG_ID, build_dags

    names = [f"model{i}" for i in range(10)]
    for name in names:
        yaml = MODEL_YAML.replace("name: carloan", f"name: {name}") + "  group_threshold: 5\n"
        (tmp_path / "models" / f"{name}.yaml").write_text(yaml)

    def tick(day: int, models: list[str]) -> None:
        for name in models:
            summary = summarize(get_model(name), _win(day), 1200, {"1.0.0": 1200}, [DRIFT_INCOME], None, f"r{day}")
            write_results(env, summary, [DRIFT_INCOME], T0)
            stats = {"metrics": [DRIFT_INCOME.to_dict()]}
            out = tasks.notify(name, summary.to_dict(), stats, {"metrics": []}, True, f"mlmonitor_{name}")
            assert out.startswith("alert sent to the grouped delivery of this tick (queued)")

    tick(0, names)
    assert slack.bodies() == []  # queued, nothing posted yet
    assert build_dags(load_models())[GROUPED_DAG_ID].test().state == "success"
    (body,) = slack.bodies()
    assert body["blocks"][0]["text"]["text"] == "⚠️ 10 ALERTS · 10 models"
    sections = [b["text"]["text"] for b in body["blocks"][1:]]
    assert len(sections) == 10
    for name, text in zip(names, sections, strict=True):
        assert text.startswith(f"*⚠️ WARNING · {name}: WARNING*\n")
        assert "\nDrifted columns: • `income` (psi+chi2): effect size 0.3" in text
        assert f"<{BASE}/mlmonitor/models/{name}|Dashboard>" in text
    assert tasks.deliver_grouped().endswith("nothing queued")  # delivered once
    with env.connect() as c:
        states = c.execute(sa.text("select state, count(*) from mlmonitor_alerts group by state")).all()
    assert [tuple(s) for s in states] == [("sent", 10)]
    # the next tick, three models change: below the threshold, one message each
    s1 = [DRIFT_INCOME, DRIFT_REGION]
    for name in names[:3]:
        summary = summarize(get_model(name), _win(1), 1200, {"1.0.0": 1200}, s1, None, "r1")
        write_results(env, summary, s1, T0)
        stats = {"metrics": [m.to_dict() for m in s1]}
        assert tasks.notify(name, summary.to_dict(), stats, {"metrics": []}, True, "x").startswith(
            "change sent to the grouped"
        )
    assert "3 message(s) one by one" in tasks.deliver_grouped()
    assert [b["blocks"][0]["text"]["text"] for b in slack.bodies()[1:]] == [
        f"⚠️ WARNING · {name}: WARNING, what fails changed" for name in names[:3]
    ]


def test_a_reply_slack_refuses_goes_to_the_channel(
    env: sa.Engine, slack_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first message of the incident was deleted: the change cannot reply in its thread and is posted
    on its route instead of failing the task for good."""
    monkeypatch.setenv("AIRFLOW_CONN_MLMONITOR_SLACK", slack_server.bot_connection())
    s0, m0 = _window(0, [DRIFT_INCOME], env)
    assert _notify(s0, m0).startswith("alert sent")
    slack_server.messages.clear()  # someone deleted it
    s1, m1 = _window(1, [DRIFT_INCOME, DRIFT_REGION], env)
    assert _notify(s1, m1).startswith("change sent to mlmonitor_slack #ml-alerts:")
    first_try, fallback = slack_server.bodies()[1:]
    assert first_try["thread_ts"] == "1700000000.000100" and "thread_ts" not in fallback
    assert fallback["channel"] == "#ml-alerts"
