"""Any Airflow notifier as an alert destination: the SMTP provider's `SmtpNotifier`, named in the model
YAML, sends the plain-text alert over SMTP to a local SMTP server (a small asyncio one in this file),
beside Slack (the local recording server); bad notifier config fails with the file and field."""

from __future__ import annotations

import asyncio
import datetime as dt
import email
import email.policy
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from mlmonitor.alerting.message import Links, build_alert
from mlmonitor.alerting.policy import AlertDecision, failing
from mlmonitor.alerting.text import render_text
from mlmonitor.errors import ConfigError
from mlmonitor.metrics import Metric, RunSummary
from mlmonitor.storage.results import write_results
from tests.factories import drift_metric

T0 = dt.datetime(2024, 4, 1, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
SMTP_NOTIFIER = "airflow.providers.smtp.notifications.smtp.SmtpNotifier"
MODEL_YAML = """\
name: carloan
training: {table: carloan_training}
serving: {table: carloan_serving_logs, timestamp_column: timestamp, id_column: id}
prediction: {column: y_pred_proba, task: classification}
start_date: 2024-03-01
alerts:
  channel: "#ml-alerts"
  retries: 0
"""
NOTIFIERS = f"""\
  critical:
    notifiers:
      - notifier: {SMTP_NOTIFIER}
        text_argument: html_content
        title_argument: subject
        kwargs: {{to: oncall@example.com, from_email: mlmonitor@example.com, smtp_conn_id: mlmonitor_smtp,
                  mime_subtype: alternative}}
"""
NULLS = Metric(
    check="validation",
    column="credit_score",
    metric="expect_column_values_to_not_be_null",
    value=35.0,
    status="alert",
    threshold=0.99,
    details={"kwargs": {"column": "credit_score", "mostly": 0.99}, "unexpected_count": 420, "element_count": 1200},
)
DRIFT = drift_metric("income")


@dataclass
class SmtpServer:
    """A minimal SMTP server (EHLO, MAIL, RCPT, DATA, QUIT) that keeps every message it receives."""

    port: int = 0
    messages: list[EmailMessage] = field(default_factory=list)
    recipients: list[list[str]] = field(default_factory=list)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        def reply(*lines: str) -> None:
            writer.write("".join(f"{line}\r\n" for line in lines).encode())

        reply("220 localhost test SMTP")
        rcpt: list[str] = []
        data: list[bytes] | None = None
        while line := await reader.readline():
            if data is not None:
                if line in {b".\r\n", b".\n"}:
                    msg = email.message_from_bytes(b"".join(data), policy=email.policy.default)
                    self.messages.append(msg)  # type: ignore[arg-type]
                    self.recipients.append(rcpt)
                    data, rcpt = None, []
                    reply("250 OK")
                else:
                    data.append(line[1:] if line.startswith(b"..") else line)
                continue
            verb = line.decode().strip().split(" ")[0].upper()
            if verb == "EHLO":
                reply("250-localhost", "250 8BITMIME")
            elif verb == "RCPT":
                rcpt.append(line.decode().split(":", 1)[1].strip().strip("<>"))
                reply("250 OK")
            elif verb == "DATA":
                data = []
                reply("354 end with <CRLF>.<CRLF>")
            elif verb == "QUIT":
                reply("221 bye")
                await writer.drain()
                break
            else:  # HELO, MAIL, RSET, NOOP
                reply("250 OK")
            await writer.drain()
        writer.close()


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    server = SmtpServer()
    loop = asyncio.new_event_loop()
    started = threading.Event()
    holder: dict[str, Any] = {}

    async def start() -> None:
        holder["server"] = await asyncio.start_server(server.handle, "127.0.0.1", 0)
        server.port = holder["server"].sockets[0].getsockname()[1]
        started.set()

    thread = threading.Thread(target=lambda: (loop.run_until_complete(start()), loop.run_forever()), daemon=True)
    thread.start()
    assert started.wait(10)
    yield server
    loop.call_soon_threadsafe(holder["server"].close)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, gx_root: Path, smtp_server: SmtpServer) -> Iterator[Any]:
    models = tmp_path / "models"
    models.mkdir()
    monkeypatch.setenv("MLMONITOR_MODELS_DIR", str(models))
    monkeypatch.setenv(
        "AIRFLOW_CONN_MLMONITOR_WAREHOUSE", json.dumps({"conn_type": "sqlite", "host": str(tmp_path / "w.db")})
    )
    smtp = {"disable_ssl": True, "disable_tls": True, "retry_limit": 1, "timeout": 10}
    monkeypatch.setenv(
        "AIRFLOW_CONN_MLMONITOR_SMTP",
        json.dumps({"conn_type": "smtp", "host": "127.0.0.1", "port": smtp_server.port, "extra": smtp}),
    )
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "")
    monkeypatch.delenv("AIRFLOW_CONN_MLMONITOR_SLACK", raising=False)
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'w.db'}")
    yield models, engine
    engine.dispose()


def _window(day: int, metrics: list[Metric], engine: sa.Engine) -> RunSummary:
    from mlmonitor.config import get_model
    from mlmonitor.pipeline import summarize
    from mlmonitor.window import Window

    window = Window(T0 + day * DAY, T0 + (day + 1) * DAY)
    summary = summarize(get_model("carloan"), window, 1200, {"1.0.0": 1200}, metrics, None, f"run_{day}")
    write_results(engine, summary, metrics, T0)
    return summary


def _notify(summary: RunSummary, metrics: list[Metric]) -> str:
    from mlmonitor_airflow import tasks

    stats = {"metrics": [m.to_dict() for m in metrics]}
    return tasks.notify("carloan", summary.to_dict(), stats, {"metrics": []}, True, "mlmonitor_carloan")


def test_smtp_notifier_receives_the_plain_text_beside_slack(
    env: Any, smtp_server: SmtpServer, slack_server: Any
) -> None:
    models, engine = env
    (models / "carloan.yaml").write_text(MODEL_YAML + NOTIFIERS)
    import os

    os.environ["AIRFLOW_CONN_MLMONITOR_SLACK"] = slack_server.bot_connection()
    try:
        # a critical window: Slack and the e-mail notifier of the critical route
        s0 = _window(0, [NULLS, DRIFT], engine)
        assert _notify(s0, [NULLS, DRIFT]) == (
            "alert sent to mlmonitor_slack #ml-alerts, SmtpNotifier (alerts.critical.notifiers[0]): "
            "first alerting window"
        )
        decision = AlertDecision(kind="alert", reason="", severity="critical", since=T0)
        alert = build_alert(decision, s0, [NULLS, DRIFT], failing(s0, [NULLS, DRIFT]), {"income": 1}, Links())
        (mail,) = smtp_server.messages
        assert smtp_server.recipients == [["oncall@example.com"]]
        assert mail["From"] == "mlmonitor@example.com" and mail["To"] == "oncall@example.com"
        assert mail["Subject"] == "🚨 CRITICAL · carloan: ALERT"
        body = mail.get_body(("html", "plain"))
        assert body is not None
        assert body.get_content().strip() == render_text(alert).strip()
        assert "`credit_score`" in body.get_content()
        assert len(slack_server.requests) == 1
        # a warning window goes to Slack only: the warning route names no notifier; the alert that went
        # through Slack and the notifier started a thread, and the change replies in it
        s1 = _window(1, [DRIFT], engine)
        assert _notify(s1, [DRIFT]).startswith("change sent to mlmonitor_slack CMLALERTS (thread 1700000000.000100):")
        assert len(smtp_server.messages) == 1 and len(slack_server.requests) == 2
        assert [b.get("thread_ts") for b in slack_server.bodies()] == [None, "1700000000.000100"]
    finally:
        del os.environ["AIRFLOW_CONN_MLMONITOR_SLACK"]


def test_templated_kwargs_and_the_local_file(env: Any, smtp_server: SmtpServer, gx_root: Path) -> None:
    models, engine = env
    yaml = MODEL_YAML + (
        "  notifiers:\n"
        f"    - notifier: {SMTP_NOTIFIER}\n"
        "      kwargs: {to: [a@example.com, b@example.com], from_email: m@example.com, smtp_conn_id: mlmonitor_smtp,\n"
        "               subject: '[{{ severity }}] {{ model }} {{ kind }}',\n"
        "               html_content: '<pre>{{ alert_text | e }}</pre>'}\n"
    )
    (models / "carloan.yaml").write_text(yaml)
    s0 = _window(0, [DRIFT], engine)
    where = _notify(s0, [DRIFT])
    assert "alerts.jsonl, SmtpNotifier (alerts.notifiers[0])" in where
    (mail,) = smtp_server.messages
    assert smtp_server.recipients == [["a@example.com", "b@example.com"]]
    assert mail["Subject"] == "[warning] carloan alert"
    html = mail.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert html.startswith("<pre>⚠️ WARNING · carloan: WARNING\nModel: carloan")
    record = json.loads((gx_root / "gx/uncommitted/alerts.jsonl").read_text().splitlines()[-1])
    assert record["text"] in html or record["text"].replace("`", "&#96;") in html


@pytest.mark.parametrize(
    ("notifier", "extra", "expected"),
    [
        (
            "airflow.providers.smtp.notifications.smtp.NoSuchNotifier",
            "",
            "field 'alerts.notifiers[0].notifier': cannot import "
            "'airflow.providers.smtp.notifications.smtp.NoSuchNotifier'",
        ),
        ("json.JSONDecoder", "", "field 'alerts.notifiers[0].notifier': 'json.JSONDecoder' is not a notifier class"),
        (
            SMTP_NOTIFIER,
            ", recipients: x@example.com",
            "field 'alerts.notifiers[0].kwargs': SmtpNotifier does not take",
        ),
    ],
)
def test_bad_notifier_config_names_file_and_field(
    env: Any, smtp_server: SmtpServer, gx_root: Path, notifier: str, extra: str, expected: str
) -> None:
    models, engine = env
    yaml = MODEL_YAML + (
        "  notifiers:\n"
        f"    - notifier: {notifier}\n"
        "      text_argument: html_content\n"
        f"      kwargs: {{to: a@example.com{extra}}}\n"
    )
    (models / "carloan.yaml").write_text(yaml)
    s0 = _window(0, [DRIFT], engine)
    with pytest.raises(ConfigError) as err:
        _notify(s0, [DRIFT])
    assert str(err.value).startswith(f"{models / 'carloan.yaml'}: {expected}"), str(err.value)
    # nothing was sent anywhere, and the window is not marked sent
    assert smtp_server.messages == []
    assert not (gx_root / "gx/uncommitted/alerts.jsonl").exists()
