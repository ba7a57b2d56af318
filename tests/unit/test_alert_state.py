"""The alert state table and drift streaks on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from mlmonitor.config import AlertsConfig
from mlmonitor.metrics import Metric, RunSummary
from mlmonitor.storage import alert_state
from mlmonitor.storage.alert_state import SentAlert
from mlmonitor.storage.results import write_results

T0 = dt.datetime(2024, 4, 1, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)


def _sent(day: int, kind: str = "alert") -> SentAlert:
    return SentAlert(
        model="carloan",
        window_start=T0 + day * DAY,
        window_end=T0 + (day + 1) * DAY,
        kind=kind,
        severity="warning",
        failing=("drift:psi(a)",),
        since=T0,
        destination="c #x",
        sent_at=T0,
    )


def test_for_window_returns_this_window_and_the_last_earlier_one(engine: sa.Engine) -> None:
    assert alert_state.for_window(engine, "carloan", T0) == (None, None)
    alert_state.record(engine, _sent(0))
    alert_state.record(engine, _sent(2, "change"))
    assert alert_state.for_window(engine, "carloan", T0 + 2 * DAY) == (_sent(2, "change"), _sent(0))
    assert alert_state.for_window(engine, "carloan", T0 + 5 * DAY) == (None, _sent(2, "change"))
    assert alert_state.for_window(engine, "other", T0 + 5 * DAY) == (None, None)


def test_drift_streaks_count_consecutive_drifting_windows(engine: sa.Engine) -> None:
    # a drifts on days 0, 2, 3, 4; b only on day 4; c never
    for day in range(5):
        rows = [
            Metric(check="drift", column="a", metric="psi", value=0.3, status="ok" if day == 1 else "warning"),
            Metric(check="drift", column="b", metric="psi", value=0.3, status="warning" if day == 4 else "ok"),
            Metric(check="drift", column="c", metric="psi", value=0.0),
        ]
        start = (T0 + day * DAY).isoformat()
        summary = RunSummary(
            model="carloan",
            window_start=start,
            window_end=(T0 + (day + 1) * DAY).isoformat(),
            rows=10,
            model_versions={},
            status="warning",
            failed_expectations=0,
            drifted_features=1,
        )
        write_results(engine, summary, rows, T0)
    assert alert_state.drift_streaks(engine, "carloan", ["a", "b", "c"], T0 + 4 * DAY) == {"a": 3, "b": 1, "c": 0}
    assert alert_state.drift_streaks(engine, "carloan", ["a"], T0 + 2 * DAY) == {"a": 1}
    assert alert_state.drift_streaks(engine, "carloan", [], T0) == {}


def test_alerts_config_routes_by_severity_and_keeps_old_fields() -> None:
    old = AlertsConfig(slack_conn_id="s", channel="#a")
    assert old.route("warning") == old.route("critical") == ("s", "#a")
    routed = AlertsConfig.model_validate(
        {"channel": "#a", "critical": {"slack_conn_id": "pager", "channel": "#oncall"}, "warning": {"channel": "#w"}}
    )
    assert routed.route("critical") == ("pager", "#oncall")
    assert routed.route("warning") == ("mlmonitor_slack", "#w")
