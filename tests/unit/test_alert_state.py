"""The alert state table and drift streaks on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import sqlalchemy as sa

from mlmonitor.config import AlertsConfig
from mlmonitor.metrics import Metric, RunSummary
from mlmonitor.storage import alert_state
from mlmonitor.storage.alert_state import MessageRef, SentAlert
from mlmonitor.storage.results import write_results
from mlmonitor.window import Window

T0 = dt.datetime(2024, 4, 1, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)


def _day(day: int) -> Window:
    return Window(T0 + day * DAY, T0 + (day + 1) * DAY)


def _sent(day: int, kind: str = "alert", *, hours: int = 24, adhoc: bool = False) -> SentAlert:
    return SentAlert(
        model="carloan",
        window_start=T0 + day * DAY,
        window_end=T0 + day * DAY + dt.timedelta(hours=hours),
        adhoc=adhoc,
        kind=kind,
        severity="warning",
        failing=("drift:psi(a)",),
        since=T0,
        destination="c #x",
        sent_at=T0,
    )


def test_for_window_returns_this_window_and_the_last_earlier_one(engine: sa.Engine) -> None:
    assert alert_state.for_window(engine, "carloan", _day(0)) == (None, None)
    alert_state.record(engine, _sent(0))
    alert_state.record(engine, _sent(2, "change"))
    assert alert_state.for_window(engine, "carloan", _day(2)) == (_sent(2, "change"), _sent(0))
    assert alert_state.for_window(engine, "carloan", _day(5)) == (None, _sent(2, "change"))
    assert alert_state.for_window(engine, "other", _day(5)) == (None, None)


def test_the_whole_window_is_the_key_and_adhoc_windows_are_outside_the_streak(engine: sa.Engine) -> None:
    # an ad-hoc run of [day 3 00:00, 02:00) alerted: the daily window of day 3 has not been sent
    alert_state.record(engine, _sent(0))
    alert_state.record(engine, _sent(3, hours=2, adhoc=True))
    assert alert_state.for_window(engine, "carloan", Window(T0 + 3 * DAY, T0 + 3 * DAY + dt.timedelta(hours=2))) == (
        _sent(3, hours=2, adhoc=True),
        _sent(0),
    )
    assert alert_state.for_window(engine, "carloan", _day(3)) == (None, _sent(0))
    # nor is it what was last reported for later windows
    assert alert_state.for_window(engine, "carloan", _day(4)) == (None, _sent(0))
    alert_state.record(engine, _sent(3))
    assert alert_state.for_window(engine, "carloan", _day(4)) == (None, _sent(3))


def test_sending_then_sent_or_abandoned(engine: sa.Engine) -> None:
    sending = replace(_sent(0), state="sending", destination="(posting)")
    alert_state.begin(engine, sending)
    assert alert_state.for_window(engine, "carloan", _day(0))[0] == sending
    alert_state.abandon(engine, "carloan", _day(0))
    assert alert_state.for_window(engine, "carloan", _day(0)) == (None, None)
    alert_state.begin(engine, sending)
    ref = MessageRef("C1", "1700000000.000100")
    alert_state.finish(engine, replace(sending, state="sent", message=ref, thread=ref))
    alert_state.abandon(engine, "carloan", _day(0))  # a sent row stays
    assert alert_state.for_window(engine, "carloan", _day(1))[1] == replace(
        sending, state="sent", message=ref, thread=ref
    )


def test_a_table_keyed_by_window_start_only_is_rebuilt_with_its_rows(engine: sa.Engine) -> None:
    old = sa.Table(
        "mlmonitor_alerts",
        sa.MetaData(),
        *(
            sa.Column(c.name, c.type, primary_key=c.name in {"model", "window_start"})
            for c in alert_state.alerts.c
            if c.name not in {"state", "adhoc", "slack_channel", "slack_ts", "thread_ts"}
        ),
    )
    old.create(engine)
    row = alert_state._row(_sent(0))
    with engine.begin() as conn:
        conn.execute(old.insert(), [{k: v for k, v in row.items() if k in old.c}])
    assert alert_state.for_window(engine, "carloan", _day(1)) == (None, _sent(0))
    alert_state.record(engine, _sent(0, hours=2, adhoc=True))  # the same start, another window
    pk = sa.inspect(engine).get_pk_constraint("mlmonitor_alerts")["constrained_columns"]
    assert sorted(pk) == ["model", "window_end", "window_start"]


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
