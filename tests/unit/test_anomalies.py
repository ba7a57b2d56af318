"""History-aware anomalies on a real results database (SQLite, PostgreSQL, MariaDB): a daily volume
series with a weekly pattern, monitored window after window exactly as the pipeline does (the check
judges the window's rows, then the window's rows are persisted and become the next one's history)."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from mlmonitor.checks.anomalies import anomaly_metrics, observed, quality_anomalies
from mlmonitor.checks.anomaly_stats import AnomalyRule, judge
from mlmonitor.config import ModelConfig
from mlmonitor.errors import ConfigError
from mlmonitor.metrics import Metric, RunSummary, worst
from mlmonitor.storage.results import write_results
from mlmonitor.ui.findings import window_findings
from mlmonitor.window import Window
from tests.factories import model_config

MONDAY = dt.datetime(2024, 3, 4)
WEEKS = 8


def weekly_volume(day: int) -> float:
    """About 1,000 rows on weekdays and 300 at weekends, with a little deterministic noise."""
    base = 300.0 if (MONDAY + dt.timedelta(days=day)).weekday() >= 5 else 1000.0
    return round(base * (1 + 0.02 * math.sin(day * 1.7)))


def monitor(engine: Engine, model: ModelConfig, volumes: dict[int, float]) -> dict[int, Metric]:
    """Judge and persist each day's volume in order; the anomaly row of every day."""
    out = {}
    for day, rows in sorted(volumes.items()):
        start = MONDAY + dt.timedelta(days=day)
        window = Window(start.replace(tzinfo=dt.UTC), (start + dt.timedelta(days=1)).replace(tzinfo=dt.UTC))
        produced = [Metric(check="health", column="", metric="rows", value=rows)]
        found = anomaly_metrics(model, engine, window, produced)
        (out[day],) = found
        run = RunSummary(
            model=model.name,
            window_start=window.start.isoformat(),
            window_end=window.end.isoformat(),
            rows=int(rows),
            model_versions={},
            status=worst(m.status for m in found),
            failed_expectations=0,
            drifted_features=0,
        )
        write_results(engine, run, [*produced, *found], window.end)
    return out


def volume_model(**anomalies: Any) -> ModelConfig:
    return model_config(anomalies={"min_history": 5, **anomalies})


def weekend(day: int) -> bool:
    return (MONDAY + dt.timedelta(days=day)).weekday() >= 5


SERIES = {d: weekly_volume(d) for d in range(7 * WEEKS)}


def test_weekly_volume_alerts_on_weekends_without_seasonality(engine: Engine) -> None:
    rows = monitor(engine, volume_model(), SERIES)
    flagged = {d for d, m in rows.items() if m.status != "ok"}
    assert flagged == {d for d in SERIES if weekend(d)}
    # once flagged, weekends never train the baseline: the history stays the weekdays
    last_sunday = rows[7 * WEEKS - 1]
    assert last_sunday.details["mean"] == pytest.approx(1000, rel=0.02)
    assert last_sunday.details["z"] < -20


def test_weekly_volume_is_quiet_with_day_of_week_seasonality(engine: Engine) -> None:
    rows = monitor(engine, volume_model(seasonality="day_of_week", min_history=3), SERIES)
    assert {d for d, m in rows.items() if m.status != "ok"} == set()
    saturday = rows[7 * (WEEKS - 1) + 5]
    assert saturday.details["bucket"] == "Saturday" and saturday.details["judged"]
    assert saturday.details["n_history"] == WEEKS - 1  # only Saturdays, the window itself excluded
    assert saturday.details["mean"] == pytest.approx(300, rel=0.02)
    # before min_history Saturdays exist, a Saturday is not judged
    assert not rows[5].details["judged"] and rows[5].details["n_history"] == 0


def test_an_injected_spike_alerts_and_never_trains_the_baseline(engine: Engine) -> None:
    spike_day = 7 * 5 + 2  # a Wednesday
    volumes = {**SERIES, spike_day: 3000.0}
    rows = monitor(engine, volume_model(seasonality="day_of_week", min_history=3), volumes)
    assert {d for d, m in rows.items() if m.status != "ok"} == {spike_day}
    spike = rows[spike_day]
    assert spike.status == "warning" and spike.details["z"] > 3 and spike.threshold == 3.0
    after = rows[spike_day + 7]  # the next Wednesday: the spike is not in its history
    assert after.details["n_history"] == 5  # Wednesdays 0..4 and not the spike (week 5)
    assert after.details["mean"] == pytest.approx(1000, rel=0.02)
    text = {f.topic: f for f in window_findings([_row(spike)])}["anomaly"]
    assert text.title == "unusual request volume"
    assert text.detail.startswith("3,000 rows, 199.2 std above the mean 1,010.8 rows (± 9.98 rows)")
    assert "of 5 earlier healthy windows (Wednesdays); alert from 3 std" in text.detail


def test_min_history_direction_and_small_changes(engine: Engine) -> None:
    early = {d: SERIES[d] for d in range(4)} | {4: 5000.0}
    rows = monitor(engine, volume_model(), early)
    assert rows[4].status == "ok" and rows[4].details["reason"] == "4 of 5 windows of history"
    rows = monitor(engine, volume_model(direction="down", min_history=3), {d: 1000.0 + d for d in range(4)} | {4: 3000})
    assert rows[4].status == "ok" and "only down changes" in rows[4].details["reason"]
    # an almost constant history makes any change many std away: the minimum change decides
    rule = AnomalyRule(min_history=3)
    small = judge(1040.0, [1000.0, 1000.5, 1000.0, 999.5], rule)
    assert small.z is not None and small.z > 3 and not small.anomalous
    assert "under the minimum 100" in small.reason
    assert judge(1200.0, [1000.0, 1000.5, 1000.0, 999.5], rule).anomalous
    assert judge(1040.0, [1000.0, 1000.5, 1000.0], AnomalyRule(min_history=3, min_relative_change=0)).anomalous
    # a constant history (a NULL share that was always 0): the sentence says so instead of a huge z
    rows = monitor(engine, volume_model(min_history=3, min_relative_change=0), {d: 100.0 for d in range(3)} | {3: 150})
    assert rows[3].status == "warning" and rows[3].details["change"] == "150 vs a constant 100 over 3 windows"
    (text,) = window_findings([_row(rows[3])])
    assert text.detail == "150 rows, above the constant 100 rows of 3 earlier healthy windows"


def test_series_found_among_a_windows_rows_and_drift_scores_off_by_default() -> None:
    model = model_config(serving={"latency_column": "lat", "status_column": "st"})
    rows = [
        Metric(check="health", column="", metric="rows", value=10.0),
        Metric(check="health", column="lat", metric="p95", value=40.0),
        Metric(check="health", column="lat", metric="p50", value=20.0),
        Metric(check="health", column="st", metric="error_rate", value=0.01),
        Metric(check="stats", column="p", metric="mean", value=0.3),
        Metric(check="drift", column="x", metric="null_rate_shift", value=0.1, details={"window_null_rate": 0.12}),
        Metric(check="drift", column="x", metric="wasserstein", value=0.05),
    ]
    assert observed(model, rows) == [
        ("rows", "", 10.0),
        ("latency_p95", "lat", 40.0),
        ("error_rate", "st", 0.01),
        ("prediction_mean", "p", 0.3),
        ("null_share", "x", 0.12),
        ("drift_score", "x", 0.05),
    ]
    assert model.anomalies.rule("drift_score") is None
    assert model_config(anomalies={"series": {"drift_score": {"enabled": True}}}).anomalies.rule("drift_score")
    null_rule = model.anomalies.rule("null_share")
    assert null_rule is not None and null_rule.min_absolute_change == 0.01
    custom = model_config(anomalies={"sensitivity": 4, "series": {"rows": {"seasonality": "day_of_week"}}}).anomalies
    assert custom.rule("rows") == AnomalyRule(seasonality="day_of_week", sensitivity=4)
    assert model_config(anomalies={"enabled": False}).anomalies.rule("rows") is None


def test_bad_anomaly_settings_name_the_field_and_the_fix() -> None:
    with pytest.raises(ConfigError, match=r"field 'anomalies.seasonality'.*day_of_week"):
        model_config(anomalies={"seasonality": "weekly"})
    with pytest.raises(
        ConfigError, match=r"field 'anomalies.series.volume.\[key\]': Input should be 'rows', 'latency_p95'"
    ):
        model_config(anomalies={"series": {"volume": {}}})
    with pytest.raises(ConfigError, match="min_history 100 of series rows exceeds history_windows 56"):
        model_config(anomalies={"series": {"rows": {"min_history": 100}}})


def _row(m: Metric) -> dict[str, Any]:
    return {
        "check_name": m.check,
        "column_name": m.column,
        "metric": m.metric,
        "value": m.value,
        "status": m.status,
        "threshold": m.threshold,
        "details": dict(m.details),
    }


def test_realized_quality_against_its_own_history(engine: Engine) -> None:
    """`performance` rows `anomaly:<metric>`, judged once the metric had labels.min_labels labels."""
    on = {"min_history": 5, "series": {"quality": {"enabled": True}}}
    model = model_config(labels={"table": "l", "id_column": "id", "label_column": "y"}, anomalies=on)
    judged: dict[int, list[Metric]] = {}
    for day in range(9):
        start = (MONDAY + dt.timedelta(days=day)).replace(tzinfo=dt.UTC)
        window = Window(start, start + dt.timedelta(days=1))
        accuracy = 0.6 if day == 7 else 0.8 + 0.005 * math.sin(day)
        labeled = 10 if day == 8 else 500  # the last window has too few labels to be judged
        rows = [Metric(check="performance", column="", metric="accuracy", value=accuracy, details={"labeled": labeled})]
        judged[day] = quality_anomalies(model, engine, window, rows)
        run = RunSummary(
            model="m",
            window_start=start.isoformat(),
            window_end=window.end.isoformat(),
            rows=500,
            model_versions={},
            status=worst(m.status for m in [*rows, *judged[day]]),
            failed_expectations=0,
            drifted_features=0,
        )
        write_results(engine, run, [*rows, *judged[day]], window.end)
    assert [m.metric for m in judged[6]] == ["anomaly:accuracy"] and judged[6][0].status == "ok"
    drop = judged[7][0]
    assert (drop.check, drop.status, drop.details["n_history"]) == ("performance", "warning", 7)
    assert judged[8] == []
    (finding,) = window_findings([_row(drop)])
    assert finding.title == "unusual accuracy" and "std below the mean 0.8" in finding.detail
    assert model_config().anomalies.rule("quality") is None  # off by default
