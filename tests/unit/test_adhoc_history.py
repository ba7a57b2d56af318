"""Ad-hoc windows (trigger form, not a schedule interval) are recorded but are nobody's history: not
pooled as accumulated drift evidence, not an anomaly baseline, not the previous window of a version
change. Rows written before the `adhoc` column existed (NULL) count as scheduled."""

from __future__ import annotations

import datetime as dt
import json

import sqlalchemy as sa

from mlmonitor.checks.base import History
from mlmonitor.checks.drift import past_windows
from mlmonitor.checks.drift_stats import ColumnInput
from mlmonitor.metrics import Metric, RunSummary
from mlmonitor.storage.results import healthy_history, last_served_run, runs, write_results
from mlmonitor.window import Window

DAY = dt.timedelta(days=1)


def _day(day: int) -> dt.datetime:
    return dt.datetime(2024, 3, day, tzinfo=dt.UTC)


def _write(
    engine: sa.Engine, day: int, hours: int, adhoc: bool | None, metric: Metric, versions: dict[str, int]
) -> None:
    start = _day(day)
    run = RunSummary(
        model="m",
        window_start=start.isoformat(),
        window_end=(start + dt.timedelta(hours=hours)).isoformat(),
        rows=sum(versions.values()) or 1,
        model_versions=versions,
        status="ok",
        failed_expectations=0,
        drifted_features=0,
        adhoc=bool(adhoc),
    )
    write_results(engine, run, [metric], start)
    if adhoc is None:
        with engine.begin() as conn:
            conn.execute(sa.update(runs).where(runs.c.window_start == start.replace(tzinfo=None)).values(adhoc=None))


def _drift_row(window: list[int], mean: float) -> Metric:
    details = {"counts": {"training": [5, 5], "window": window, "window_mean": mean}, "n_window": sum(window)}
    return Metric(check="drift", column="x", metric="wasserstein", value=0.01, details=details)


def test_adhoc_windows_are_not_pooled_as_accumulated_drift_evidence(engine: sa.Engine) -> None:
    _write(engine, 1, 24, None, _drift_row([4, 6], 0.6), {})
    _write(engine, 2, 24, False, _drift_row([5, 5], 0.5), {})
    _write(engine, 3, 2, True, _drift_row([0, 90], 9.0), {})  # an ad-hoc slice of day 3
    c = ColumnInput(
        column="x",
        kind="numeric",
        method="wasserstein",
        threshold=0.1,
        null_threshold=0.02,
        reference=[5, 5],
        reference_nulls=0,
        current=[5, 5],
        current_nulls=0,
    )
    window = Window.of(_day(4), _day(5))
    found = past_windows(History(engine, "m", window.start), window, [c], 3)
    assert [p.label for p in found["x"]] == [_day(2).isoformat(), _day(1).isoformat()]
    assert [list(p.counts) for p in found["x"]] == [[5, 5], [4, 6]]


def test_adhoc_windows_are_not_anomaly_history(engine: sa.Engine) -> None:
    for day, hours, adhoc, value in [(1, 24, None, 10.0), (2, 24, False, 20.0), (3, 2, True, 500.0)]:
        _write(engine, day, hours, adhoc, Metric(check="health", column="", metric="rows", value=value), {})
    got = healthy_history(engine, "m", "health", ["rows"], _day(1), _day(5), 10)
    assert [(start.day, value) for start, _, _, value in got] == [(2, 20.0), (1, 10.0)]


def test_an_adhoc_window_is_not_the_previous_window_of_a_version_change(engine: sa.Engine) -> None:
    row = Metric(check="health", column="", metric="rows", value=1.0)
    _write(engine, 1, 24, None, row, {"v1": 10})
    _write(engine, 2, 24, False, row, {"v1": 8})
    _write(engine, 3, 2, True, row, {"v2": 5})  # someone checked a slice of day 3 served by v2
    prev = last_served_run(engine, "m", _day(4))
    assert prev is not None and json.loads(prev["model_versions"]) == {"v1": 8}
    with engine.begin() as conn:
        conn.execute(sa.update(runs).where(runs.c.adhoc == sa.true()).values(adhoc=False))
    assert json.loads(last_served_run(engine, "m", _day(4))["model_versions"]) == {"v2": 5}  # type: ignore[index]
