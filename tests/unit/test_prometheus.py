"""Prometheus text exposition: latest values per model/column, label escaping, SQL on SQLite."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from mlmonitor.metrics import Metric, RunSummary
from mlmonitor.storage.results import write_results
from mlmonitor.ui import prometheus


def _write(engine: sa.Engine, day: int, value: float, status: str = "ok") -> None:
    start = dt.datetime(2024, 3, 1 + day, tzinfo=dt.UTC)
    summary = RunSummary(
        model="carloan",
        window_start=start.isoformat(),
        window_end=(start + dt.timedelta(days=1)).isoformat(),
        rows=10,
        model_versions={},
        status=status,
        failed_expectations=0,
        drifted_features=0,
    )
    rows = [
        Metric(check="drift", column="income", metric="psi", value=value, status=status, threshold=0.1, p_value=0.01)
    ]
    if day == 0:
        rows.append(Metric(check="drift", column='we"ird\\col\n', metric="psi", value=0.5))
    write_results(engine, summary, rows, start)


def test_latest_value_per_metric_and_escaped_labels(tmp_path):
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'r.db'}")
    _write(engine, 0, 0.01)
    _write(engine, 1, 0.3, "warning")
    rows = prometheus.latest_metric_rows(engine, "carloan")
    assert {(r["column_name"], r["value"]) for r in rows} == {("income", 0.3), ('we"ird\\col\n', 0.5)}
    text = prometheus.exposition([("carloan", prometheus.latest_run(engine, "carloan"), rows)])
    lines = text.splitlines()
    assert 'mlmonitor_metric_value{model="carloan",check="drift",column="income",metric="psi"} 0.3' in lines
    assert 'mlmonitor_metric_value{model="carloan",check="drift",column="we\\"ird\\\\col\\n",metric="psi"} 0.5' in lines
    assert 'mlmonitor_metric_threshold{model="carloan",check="drift",column="income",metric="psi"} 0.1' in lines
    assert 'mlmonitor_window_status{model="carloan",status="warning"} 1.0' in lines
    assert 'mlmonitor_window_status{model="carloan",status="ok"} 0.0' in lines
    assert "# TYPE mlmonitor_metric_value gauge" in lines
    end = dt.datetime(2024, 3, 3, tzinfo=dt.UTC).timestamp()
    assert f'mlmonitor_window_end_timestamp_seconds{{model="carloan"}} {float(end)!r}' in lines
    assert text.endswith("\n")


def test_no_results_is_an_empty_but_valid_exposition(tmp_path):
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'r.db'}")
    assert prometheus.latest_run(engine, "x") is None
    assert prometheus.exposition([("x", None, prometheus.latest_metric_rows(engine, "x"))]) == "\n"


def test_a_scrape_reads_only_the_newest_windows(tmp_path):
    """Issue 16, finding 5: every scrape grouped the model's whole history. A metric last seen before the
    newest `windows` windows is no longer exported; one a few windows old still is (quality rows of
    re-scored windows)."""
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'r.db'}")
    for day in range(6):
        _write(engine, day, 0.01 * day)  # day 0 also has the odd column, never seen again
    rows = prometheus.latest_metric_rows(engine, "carloan", windows=3)
    assert {(r["column_name"], r["value"]) for r in rows} == {("income", 0.05)}
    assert {r["column_name"] for r in prometheus.latest_metric_rows(engine, "carloan", windows=6)} == {
        "income",
        'we"ird\\col\n',
    }
