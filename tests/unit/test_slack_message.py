"""The Block Kit message, on exact JSON: alert, change, recovery, truncation, Slack limits, task failure."""

from __future__ import annotations

import datetime as dt

from mlmonitor.alerting.message import Links, build_alert, failure_alert
from mlmonitor.alerting.policy import AlertDecision, failing
from mlmonitor.alerting.slack_blocks import MAX_TEXT, SlackMessage, render_slack
from mlmonitor.metrics import Metric, RunSummary
from mlmonitor.storage.alert_state import SentAlert

T0 = dt.datetime(2024, 4, 15, tzinfo=dt.UTC)


def build_message(decision, summary, metrics, now_failing, streaks, links, top=5) -> SlackMessage:  # type: ignore[no-untyped-def]
    """The alert of a window, rendered as Slack Block Kit (what the notify task posts)."""
    return render_slack(build_alert(decision, summary, metrics, now_failing, streaks, links), top)


SUMMARY = RunSummary(
    model="carloan",
    window_start="2024-04-15T00:00:00+00:00",
    window_end="2024-04-16T00:00:00+00:00",
    rows=1287,
    model_versions={"1.0.0": 1200, "1.1.0": 87},
    status="alert",
    failed_expectations=2,
    drifted_features=2,
    docs_path="validations/carloan/x.html",
    airflow_run_id="manual__1",
)
IN_SET = {
    "kwargs": {"column": "employment_type", "value_set": ["a", "b", "c", "d", "e", "f", "g"], "mostly": 0.99},
    "unexpected_count": 161,
    "element_count": 1287,
    "unexpected_percent": 12.5,
    "partial_unexpected_counts": [{"value": "gig_worker", "count": 161}],
}
METRICS = [
    Metric(
        check="validation",
        column="employment_type",
        metric="expect_column_values_to_be_in_set",
        value=12.5,
        status="alert",
        threshold=0.99,
        details=IN_SET,
    ),
    # a non-numeric observed value (GE's `observed_value`) is shown as it is
    Metric(
        check="validation",
        column="credit_score",
        metric="expect_column_values_to_not_be_null",
        value=8.0,
        status="alert",
        threshold=0.99,
        details={"kwargs": {"column": "credit_score", "mostly": 0.99}, "observed_value": "8.00% null"},
    ),
    Metric(check="validation", column="income", metric="expect_column_mean_to_be_between", value=5.0, status="ok"),
    Metric(
        check="drift",
        column="income",
        metric="psi",
        value=0.21,
        status="warning",
        threshold=0.1,
        p_value=1e-9,
        details={"method": "psi+chi2"},
    ),
    Metric(
        check="drift",
        column="credit_score",
        metric="psi",
        value=0.35,
        status="warning",
        threshold=0.1,
        p_value=2e-30,
        details={"method": "psi+chi2", "effect_size": 0.35},
    ),
    Metric(check="drift", column="region", metric="psi", value=0.02, status="ok", threshold=0.1, p_value=0.5),
    Metric(
        check="stats",
        column="y_pred_proba",
        metric="mean",
        value=0.412,
        status="warning",
        threshold=4.0,
        details={"training_mean": 0.318, "z_standard_errors": 7.25},
    ),
]
LINKS = Links(
    docs="http://af/mlmonitor/docs/x.html",
    dashboard="http://af/mlmonitor/models/carloan",
    run="http://af/dags/d/runs/r",
)
LINKS_BLOCK = {
    "type": "section",
    "text": {
        "type": "mrkdwn",
        "text": "<http://af/mlmonitor/docs/x.html|Data Docs> · <http://af/mlmonitor/models/carloan|Dashboard> · "
        "<http://af/dags/d/runs/r|Airflow run>",
    },
}


def _fields(status: str, since: str) -> dict:
    return {
        "type": "section",
        "fields": [
            {"type": "mrkdwn", "text": "*Model*\ncarloan"},
            {"type": "mrkdwn", "text": "*Version(s)*\n1.0.0 (1200 rows), 1.1.0 (87 rows)"},
            {"type": "mrkdwn", "text": "*Window (UTC)*\n2024-04-15 00:00 → 2024-04-16 00:00"},
            {"type": "mrkdwn", "text": f"*Status*\n{status}"},
            {"type": "mrkdwn", "text": "*Rows*\n1287"},
            {"type": "mrkdwn", "text": f"*Since*\nwindow of {since}"},
        ],
    }


def _section(text: str) -> dict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def test_alert_message_exact_blocks_and_text():
    decision = AlertDecision(
        kind="alert", reason="first alerting window", severity="critical", since=T0 - dt.timedelta(days=1)
    )
    streaks = {"credit_score": 2, "income": 1}
    message = build_message(decision, SUMMARY, METRICS, failing(SUMMARY, METRICS), streaks, LINKS, top=5)
    assert message.blocks == [
        {"type": "header", "text": {"type": "plain_text", "text": "🚨 CRITICAL · carloan: ALERT"}},
        _fields("alert (critical)", "2024-04-14 00:00"),
        _section(
            "*Failed expectations (2)*\n"
            "• `expect_column_values_to_be_in_set` on `employment_type`: observed 12.50% unexpected "
            "(161 of 1287 rows), e.g. gig_worker; expected mostly=0.99, value_set=[a, b, c, d, e, +2]\n"
            "• `expect_column_values_to_not_be_null` on `credit_score`: observed 8.00% null; expected mostly=0.99"
        ),
        _section(
            "*Drifted columns (2)*\n"
            "• `credit_score` (psi+chi2): effect size 0.35 vs threshold 0.1, p=2e-30; drifting 2 windows in a row\n"
            "• `income` (psi+chi2): effect size 0.21 vs threshold 0.1, p=1e-09; first drifting window"
        ),
        _section(
            "*Prediction statistics that moved (1)*\n"
            "• mean of `y_pred_proba`: 0.412 (training 0.318; z=7.2 standard errors)"
        ),
        LINKS_BLOCK,
    ]
    assert message.text.splitlines()[:4] == [
        "🚨 CRITICAL · carloan: ALERT",
        "Model: carloan",
        "Version(s): 1.0.0 (1200 rows), 1.1.0 (87 rows)",
        "Window (UTC): 2024-04-15 00:00 → 2024-04-16 00:00",
    ]
    assert "gig_worker" in message.text and "drifting 2 windows in a row" in message.text
    assert message.text.splitlines()[-1] == (
        "Data Docs: http://af/mlmonitor/docs/x.html · Dashboard: http://af/mlmonitor/models/carloan · "
        "Airflow run: http://af/dags/d/runs/r"
    )


def test_long_lists_are_cut_with_and_n_more():
    decision = AlertDecision(kind="alert", reason="first", severity="critical", since=T0)
    message = build_message(decision, SUMMARY, METRICS, failing(SUMMARY, METRICS), {}, Links(), top=1)
    texts = [b["text"]["text"] for b in message.blocks if "text" in b and b["type"] == "section"]
    assert texts[0].endswith("expected mostly=0.99, value_set=[a, b, c, d, e, +2]\n… and 1 more")
    assert texts[1] == (
        "*Drifted columns (2)*\n• `credit_score` (psi+chi2): effect size 0.35 vs threshold 0.1, p=2e-30\n… and 1 more"
    )  # without streaks (no history) the line just leaves them out
    assert len(message.blocks) == 5  # no links block without a base URL


def test_change_message_lists_new_and_resolved():
    previous = SentAlert(
        model="carloan",
        window_start=T0 - dt.timedelta(days=1),
        window_end=T0,
        kind="alert",
        severity="warning",
        failing=("drift:psi(income)", "drift:psi(region)"),
        since=T0 - dt.timedelta(days=3),
        destination="x",
        sent_at=T0,
    )
    metrics = [m for m in METRICS if m.check == "drift"]
    decision = AlertDecision(
        kind="change", reason="changed", severity="warning", since=previous.since, previous=previous
    )
    summary = RunSummary(**{**SUMMARY.to_dict(), "status": "warning", "failed_expectations": 0})
    message = build_message(decision, summary, metrics, failing(summary, metrics), {"credit_score": 1}, LINKS)
    assert message.blocks[:4] == [
        {"type": "header", "text": {"type": "plain_text", "text": "⚠️ WARNING · carloan: WARNING, what fails changed"}},
        _fields("warning (warning)", "2024-04-12 00:00"),
        _section("*Newly failing (1)*\ndrift:psi(credit_score)"),
        _section("*No longer failing (1)*\ndrift:psi(region)"),
    ]


def test_recovery_message_names_what_was_failing():
    previous = SentAlert(
        model="carloan",
        window_start=T0 - dt.timedelta(days=1),
        window_end=T0,
        kind="alert",
        severity="critical",
        failing=("drift:psi(income)",),
        since=T0,
        destination="x",
        sent_at=T0,
    )
    summary = RunSummary(**{**SUMMARY.to_dict(), "status": "ok", "failed_expectations": 0, "drifted_features": 0})
    message = build_message(
        AlertDecision(kind="recovery", reason="healthy", severity=None, since=T0, previous=previous),
        summary,
        [],
        (),
        {},
        LINKS,
    )
    assert message.blocks == [
        {"type": "header", "text": {"type": "plain_text", "text": "✅ RESOLVED · carloan: healthy again"}},
        _fields("ok (resolved)", "2024-04-15 00:00"),
        _section("*All checks pass again; was failing (1)*\ndrift:psi(income)"),
        LINKS_BLOCK,
    ]


def test_blocks_stay_within_slack_limits():
    many = [
        Metric(
            check="drift",
            column=f"feature_{i:03d}_" + "x" * 300,
            metric="psi",
            value=1.0 + i,
            status="warning",
            threshold=0.1,
            p_value=0.001,
            details={"method": "psi"},
        )
        for i in range(300)
    ]
    summary = RunSummary(**{**SUMMARY.to_dict(), "model_versions": {f"v{i}": i for i in range(40)}})
    message = build_message(
        AlertDecision(kind="alert", reason="first", severity="warning", since=T0), summary, many, (), {}, LINKS, top=50
    )
    assert len(message.blocks) <= 50
    for block in message.blocks:
        texts = [block["text"]["text"]] if "text" in block else [f["text"] for f in block.get("fields", [])]
        assert all(len(t) <= (150 if block["type"] == "header" else MAX_TEXT) for t in texts)
    drift = message.blocks[2]["text"]["text"]
    assert drift.startswith("*Drifted columns (300)*\n• `feature_299_") and drift.endswith(" more")
    assert "+35 more" in message.blocks[1]["fields"][1]["text"]
    assert len(message.text) <= MAX_TEXT


def test_no_data_message_says_what_to_check():
    summary = RunSummary(**{**SUMMARY.to_dict(), "rows": 0, "model_versions": {}, "status": "no_data"})
    message = build_message(
        AlertDecision(kind="alert", reason="first", severity="warning", since=T0), summary, [], (), {}, Links()
    )
    assert message.blocks[1]["fields"][1]["text"] == "*Version(s)*\nn/a"
    assert message.blocks[2] == _section(
        "*No serving rows in this window.* Is the model serving, and is prediction logging working?"
    )


def test_failure_message_has_error_and_log_link():
    message = render_slack(
        failure_alert(
            "carloan", "mlmonitor_carloan", "stats", "scheduled__1", "WarehouseUnavailable: down", "http://af/log"
        )
    )
    assert message.blocks == [
        {"type": "header", "text": {"type": "plain_text", "text": "💥 TASK FAILED · carloan: mlmonitor_carloan.stats"}},
        _section("*Run* `scheduled__1`\n*Error*\n```WarehouseUnavailable: down```"),
        _section("<http://af/log|Task log>"),
    ]
    assert message.text == (
        "💥 TASK FAILED · carloan: mlmonitor_carloan.stats\n*Run* `scheduled__1`\n*Error*\n"
        "```WarehouseUnavailable: down```\nTask log: http://af/log"
    )


def test_null_examples_are_not_shown_as_none():
    nulls = Metric(
        check="validation",
        column="credit_score",
        metric="expect_column_values_to_not_be_null",
        value=33.6,
        status="alert",
        details={"unexpected_percent": 33.6, "partial_unexpected_counts": [{"value": None, "count": 20}]},
    )
    message = build_message(
        AlertDecision(kind="alert", reason="", severity="critical", since=T0), SUMMARY, [nulls], (), {}, Links()
    )
    assert message.blocks[2] == _section(
        "*Failed expectations (1)*\n"
        "• `expect_column_values_to_not_be_null` on `credit_score`: observed 33.60% unexpected"
    )


def test_owners_are_mentions_in_slack_and_text_elsewhere() -> None:
    import pytest

    from mlmonitor.alerting.text import render_text
    from mlmonitor.errors import ConfigError
    from tests.factories import model_config

    decision = AlertDecision(kind="alert", reason="", severity="critical", since=T0)
    alert = build_alert(
        decision,
        SUMMARY,
        METRICS,
        failing(SUMMARY, METRICS),
        {},
        Links(),
        owners=("U0A", "a@x.io", "b@x.io", "S0T"),
        subscribers=("<!subteam^S0SUB|ml-team>",),
    )
    people = render_slack(alert, lookup={"a@x.io": "U0AA"}.get).blocks[2]["text"]["text"]
    assert people == "Owners: <@U0A>, <@U0AA>, b@x.io, <!subteam^S0T> · Subscribers: <!subteam^S0SUB>"
    assert "Owners: U0A, a@x.io, b@x.io, S0T · Subscribers: <!subteam^S0SUB|ml-team>" in render_text(alert)
    for bad in ("@ana", "<!channel>", "ana", "<!subteam^S0T"):
        with pytest.raises(ConfigError, match=r"alerts\.owners.*not a Slack user id"):
            model_config(alerts={"owners": [bad]})
    with pytest.raises(ConfigError, match="check_owners: 'latency' is not a check"):
        model_config(alerts={"check_owners": {"latency": ["U0A"]}})


def test_a_queued_alert_survives_json_and_groups_within_slack_limits() -> None:
    from mlmonitor.alerting.message import alert_from_json, alert_to_json, grouped_alert

    decision = AlertDecision(kind="alert", reason="", severity="critical", since=T0)
    links = Links(docs="http://a/docs/x", dashboard="http://a/models/carloan")
    alert = build_alert(decision, SUMMARY, METRICS, failing(SUMMARY, METRICS), {"income": 2}, links, owners=("U0A",))
    assert alert_from_json(alert_to_json(alert)) == alert
    many = grouped_alert([alert] * 60)
    assert alert_from_json(alert_to_json(many)) == many
    message = render_slack(many)
    assert len(message.blocks) == 50 and message.blocks[-1]["text"]["text"] == "… and 13 more sections"
    assert message.blocks[0]["text"]["text"] == "🚨 60 ALERTS · 1 model"
    assert message.blocks[1]["text"]["text"] == "Owners: <@U0A>"
    assert all(len(b["text"]["text"]) <= MAX_TEXT for b in message.blocks[1:])


def test_a_drift_found_by_accumulated_evidence_says_over_how_many_windows():
    acc = {
        "windows": ["2024-04-13T00:00:00+00:00", "2024-04-14T00:00:00+00:00", "2024-04-15T00:00:00+00:00"],
        "n_window": 450,
        "threshold": 0.12,
        "threshold_why": "learned",
        "effect_size": 0.27,
        "p_value": 3e-6,
        "q_value": 3e-5,
        "decision": "drift",
        "rule": "pooled",
    }
    details = {"method": "wasserstein", "effect_size": 0.2, "threshold": 0.22, "p_value": 0.004, "q_value": 0.04}
    drift = Metric(
        check="drift",
        column="income",
        metric="wasserstein",
        value=0.2,
        status="warning",
        threshold=0.22,
        p_value=0.04,
        details={**details, "fdr": 0.01, "decision": "drift", "accumulated": acc},
    )
    decision = AlertDecision(kind="alert", reason="first", severity="warning", since=T0)
    message = build_message(decision, SUMMARY, [drift], ["drift:income"], {}, LINKS)
    assert (
        "• `income` (wasserstein): effect size 0.27 vs threshold 0.12, p=3e-06 over the last 3 windows" in message.text
    )
