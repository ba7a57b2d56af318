"""The deadline callback's question "was this window monitored?" against a real SQLite results table:
only a scheduled row of exactly the run's interval counts (not an ad-hoc run, not a window that only
starts with it)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import sqlalchemy as sa

from mlmonitor.metrics import RunSummary
from mlmonitor.storage.results import read_runs, write_results
from mlmonitor_airflow.late import monitored

START = dt.datetime(2024, 4, 1, tzinfo=dt.UTC)
END = START + dt.timedelta(days=1)


def _run(end: dt.datetime, *, adhoc: bool) -> RunSummary:
    return RunSummary(
        model="m",
        window_start=START.isoformat(),
        window_end=end.isoformat(),
        rows=10,
        model_versions={},
        status="ok",
        failed_expectations=0,
        drifted_features=0,
        adhoc=adhoc,
    )


def test_only_the_scheduled_row_of_the_whole_interval_counts(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'results.db'}")
    write_results(engine, _run(START + dt.timedelta(hours=2), adhoc=True), [], dt.datetime(2024, 4, 2))
    write_results(engine, _run(END, adhoc=True), [], dt.datetime(2024, 4, 2))  # an ad-hoc run of the same span
    assert monitored(read_runs(engine, "m", 100, since=START, before=END), START, END) == []
    write_results(engine, _run(END, adhoc=False), [], dt.datetime(2024, 4, 2))
    [row] = monitored(read_runs(engine, "m", 100, since=START, before=END), START, END)
    assert row["status"] == "ok" and not row["adhoc"]
