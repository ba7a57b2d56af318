"""When to post: first alert, change, reminder, recovery, and never twice for one window."""

from __future__ import annotations

import datetime as dt
import json

from mlmonitor.alerting.destinations import LocalFile
from mlmonitor.alerting.message import failure_alert
from mlmonitor.alerting.policy import decide_post as decide
from mlmonitor.alerting.policy import failing, severity_of
from mlmonitor.metrics import Metric, RunSummary
from mlmonitor.storage.alert_state import SentAlert

DAY = dt.timedelta(days=1)
T0 = dt.datetime(2024, 4, 1, tzinfo=dt.UTC)


def _sent(day: int, kind: str = "alert", fails: tuple[str, ...] = ("drift:psi(income)",), sev: str = "warning"):
    return SentAlert(
        model="carloan",
        window_start=T0 + day * DAY,
        window_end=T0 + (day + 1) * DAY,
        kind=kind,
        severity=sev,
        failing=fails,
        since=T0,
        destination="mlmonitor_slack #a",
        sent_at=T0 + day * DAY,
    )


def test_severity_and_failing_labels():
    assert [severity_of(s) for s in ("ok", "warning", "no_data", "alert", "error")] == [
        None,
        "warning",
        "warning",
        "critical",
        "critical",
    ]
    summary = RunSummary(
        model="carloan",
        window_start="2024-04-01T00:00:00+00:00",
        window_end="2024-04-02T00:00:00+00:00",
        rows=0,
        model_versions={},
        status="no_data",
        failed_expectations=0,
        drifted_features=0,
    )
    metrics = [
        Metric(check="drift", column="income", metric="psi", value=0.3, status="warning"),
        Metric(check="validation", column="", metric="expect_table_row_count_to_be_between", value=0, status="alert"),
        Metric(check="stats", column="y", metric="mean", value=0.1),
    ]
    assert failing(summary, metrics) == (
        "drift:psi(income)",
        "status:no_data",
        "validation:expect_table_row_count_to_be_between()",
    )


def test_first_alert_then_quiet_then_change_then_recovery_then_quiet():
    fails = ("drift:psi(income)",)
    first = decide(T0, "warning", fails, None, None, None)
    assert (first.kind, first.since) == ("alert", T0)
    same = decide(T0 + DAY, "warning", fails, None, _sent(0), None)
    assert same.kind is None and "unchanged since the alert" in same.reason
    more = decide(T0 + DAY, "warning", (*fails, "drift:psi(region)"), None, _sent(0), None)
    assert (more.kind, more.since, more.previous) == ("change", T0, _sent(0))
    worse = decide(T0 + DAY, "critical", fails, None, _sent(0), None)
    assert worse.kind == "change"
    healthy = decide(T0 + 2 * DAY, None, (), None, _sent(1, "change"), None)
    assert (healthy.kind, healthy.since) == ("recovery", T0)
    still_healthy = decide(T0 + 3 * DAY, None, (), None, _sent(2, "recovery", ()), None)
    assert still_healthy.kind is None
    again = decide(T0 + 4 * DAY, "warning", fails, None, _sent(2, "recovery", ()), None)
    assert (again.kind, again.since) == ("alert", T0 + 4 * DAY)


def test_reminder_after_the_interval_of_window_time():
    fails = ("drift:psi(income)",)
    assert decide(T0 + DAY, "warning", fails, None, _sent(0), dt.timedelta(hours=36)).kind is None
    reminder = decide(T0 + 2 * DAY, "warning", fails, None, _sent(0), dt.timedelta(hours=36))
    assert (reminder.kind, reminder.since) == ("reminder", T0)


def test_a_window_already_notified_is_never_posted_again():
    for severity in ("warning", None):
        decision = decide(T0, severity, (), _sent(0), None, dt.timedelta(hours=1))
        assert decision.kind is None and not decision.post and "already sent" in decision.reason


def test_local_file_writes_one_json_line_per_message(tmp_path):
    path = tmp_path / "sub" / "alerts.jsonl"
    first = LocalFile(path).send(failure_alert("carloan", "d", "t", "r", "é", None))
    LocalFile(path).send(failure_alert("carloan", "d", "t", "r2", "down", "http://log"))
    assert first == str(path)
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert [(r["kind"], r["model"]) for r in records] == [("task_failure", "carloan")] * 2
    assert "é" in records[0]["text"] and records[1]["text"].endswith("Task log: http://log")
    assert dt.datetime.fromisoformat(records[0]["at"]).tzinfo is not None
