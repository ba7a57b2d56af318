"""The UI on a long history: two years of hourly windows (17,520 windows x 100 metric rows = 1.75M rows,
details as the checks write them) of one model, on SQLite and PostgreSQL.

Timed, as the routes do them (the reads bounded in SQL, the statement timeout set, the view built and
the page rendered; Airflow's auth and the connection lookup excluded): the model page
(`dashboard.load_model` + `render_model`, its 366 newest windows), `/metrics` (`prometheus`, the newest
100 windows), the overview line and a window's page. Each: the first call (cold caches) and the median
of 5 more. The results tables are generated once and kept (var/bench/ui.db, PostgreSQL database
mlmonitor_bench_ui; `--quick`, a month of hourly windows: ui-quick.db, mlmonitor_bench_ui_quick).
Goals: model page and /metrics under 1 s each (issue 16).
"""

from __future__ import annotations

import datetime as dt
import json
import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from mlmonitor.dialect import limit_statements
from mlmonitor.storage.results import ensure_tables, metrics, runs
from mlmonitor.ui import dashboard, prometheus
from mlmonitor.ui.html import Shell
from tests.benchmarks.bench_drift_speed import engine_for

ROOT = Path(__file__).resolve().parents[2]
SQLITE = ROOT / "var" / "bench" / "ui.db"
PG_DB = "mlmonitor_bench_ui"
MODEL = "hourly"
T0 = dt.datetime(2023, 1, 1)
WINDOWS = 17_520
QUICK_WINDOWS = 720
NUMERIC = [f"n{i}" for i in range(8)]
CATEGORICAL = [f"c{i}" for i in range(4)]
LIMIT_SECONDS = 1.0


def _counts(kind: str) -> dict[str, Any]:
    if kind == "numeric":
        edges = [float(10 * i) for i in range(1, 10)]
        return {
            "kind": kind,
            "edges": edges,
            "bin_means": [5.0 + 10 * i for i in range(10)],
            "categories": [],
            "training": [1000] * 10,
            "window": [100, 90, 110, 95, 105, 100, 98, 102, 100, 100],
        }
    return {
        "kind": kind,
        "edges": [],
        "bin_means": [],
        "categories": ["a", "b", "c", "d", "e"],
        "training": [200] * 5 + [0],
        "window": [40, 20, 20, 10, 10, 0],
    }


def _drift_details(column: str, kind: str, method: str, drifted: bool) -> str:
    return json.dumps(
        {
            "method": method,
            "why": "how far the values moved, in training standard deviations " * 2,
            "evidence": "chi-squared homogeneity test, Benjamini-Hochberg across all signals of the window",
            "kind": kind,
            "n_train": 10_000,
            "n_window": 1_000,
            "bins_version": 2,
            "fdr": 0.05,
            "threshold": 0.1,
            "effect_size": 0.3 if drifted else 0.02,
            "p_value": 1e-9 if drifted else 0.5,
            "q_value": 0.3,
            "decision": "drift" if drifted else "no drift",
            "distances": {"wasserstein": 0.02, "psi": 0.01, "js": 0.03, "ks": 0.02, "chi2": 12.0},
            "counts": _counts(kind),
        }
    )


VALIDATION = json.dumps(
    {
        "kwargs": {"column": "n1", "min_value": 0.0, "max_value": 100.0, "mostly": 0.99},
        "rule": "numeric_range",
        "element_count": 1000,
        "unexpected_count": 0,
        "unexpected_percent": 0.0,
        "missing_count": 0,
        "partial_unexpected_counts": [],
    }
)
HEALTH = json.dumps(
    {"trailing_windows": 7, "rule": "warning outside [0, 1.5] x the median", "trailing_median_p95": 70.0}
)
QUALITY = json.dumps(
    {
        "labeled": 800,
        "baseline": 0.75,
        "baseline_source": "training table",
        "tolerance": 0.1,
        "standard_error": 0.01,
        "rule": "alert when worse than the baseline by 10% and 4 se",
    }
)


def _window_rows(i: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One window's run row and its 100 metric rows; the last 3% of windows drift in three columns."""
    start = T0 + dt.timedelta(hours=i)
    key = {"model": MODEL, "window_start": start, "window_end": start + dt.timedelta(hours=1)}
    drifting = i % 997 > 960
    out: list[dict[str, Any]] = []

    def add(
        check: str,
        column: str,
        metric: str,
        value: float,
        status: str = "ok",
        details: str = "{}",
        threshold: float | None = None,
    ) -> None:
        out.append(
            {
                **key,
                "check_name": check,
                "column_name": column,
                "metric": metric,
                "value": value,
                "threshold": threshold,
                "p_value": None,
                "status": status,
                "details": details,
            }
        )

    for j, column in enumerate(NUMERIC + CATEGORICAL):
        kind = "numeric" if column in NUMERIC else "categorical"
        drifted = drifting and j < 3
        method = "wasserstein" if kind == "numeric" else "linf"
        status = "warning" if drifted else "ok"
        add(
            "drift",
            column,
            method,
            0.3 if drifted else 0.02,
            status,
            _drift_details(column, kind, method, drifted),
            0.1,
        )
        add("drift", column, "null_rate_shift", 0.0, "ok", _drift_details(column, kind, "null_rate_shift", False), 0.02)
    add("drift", "", "drifted_share", 0.25 if drifting else 0.0, "ok", "{}", 0.5)
    for j in range(45):
        add("validation", f"n{j % 8}", f"expect_column_values_to_be_between_{j}", 0.0, "ok", VALIDATION, 0.99)
    for metric in ("mean", "median", "std", "min", "max"):
        add("stats", "pred", metric, 0.25, "ok", '{"training": 0.25}')
    for metric in (
        "share:1.0.0",
        "model_age_days",
        "null_share",
        "nan_share",
        "inf_share",
        "out_of_range_share",
        "p50",
        "p95",
        "p99",
        "rows",
        "window_intervals",
        "schema_changes",
        "error_rate",
    ):
        add("health", "latency_ms" if metric.startswith("p") else "", metric, 1.0, "ok", HEALTH)
    for metric in ("label_coverage", "accuracy", "precision", "recall", "f1", "roc_auc", "log_loss"):
        add("performance", "", metric, 0.75, "ok", QUALITY, 0.67)
    for j in range(6):
        add("health", f"n{j}", "skew_mismatch_rate", 0.0, "ok", '{"joined": 900, "offline_table": "offline"}', 0.01)
    status = "warning" if drifting else "ok"
    run = {
        **key,
        "status": status,
        "rows": 1000,
        "model_versions": '{"1.0.0": 1000}',
        "failed_expectations": 0,
        "drifted_features": 3 if drifting else 0,
        "docs_path": f"validations/{MODEL}/{i}.html",
        "airflow_run_id": f"scheduled__{start.isoformat()}",
        "message": "1000 rows",
        "computed_at": start,
        "monitor_status": status,
        "rescored_at": None,
    }
    return run, out


def _engine(db: str, quick: bool = False) -> Engine:
    """The kept database of the full or the quick size (each generated once)."""
    if quick:
        return engine_for(db, f"{PG_DB}_quick", SQLITE.with_name("ui-quick.db"))
    return engine_for(db, PG_DB, SQLITE)


def _chunks(n: int, size: int = 200) -> Iterator[range]:
    for first in range(0, n, size):
        yield range(first, min(first + size, n))


def prepare(engine: Engine, windows: int) -> float:
    """The results tables with `windows` hourly windows (kept when they already hold exactly that)."""
    ensure_tables(engine)
    with engine.connect() as conn:
        have = conn.execute(sa.select(sa.func.count()).select_from(runs).where(runs.c.model == MODEL)).scalar_one()
    if have == windows:
        return 0.0
    started = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(metrics.delete().where(metrics.c.model == MODEL))
        conn.execute(runs.delete().where(runs.c.model == MODEL))
    for chunk in _chunks(windows):
        built = [_window_rows(i) for i in chunk]
        with engine.begin() as conn:
            conn.execute(runs.insert(), [r for r, _ in built])
            conn.execute(metrics.insert(), [m for _, ms in built for m in ms])
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE mlmonitor_metrics")
            conn.exec_driver_sql("VACUUM ANALYZE mlmonitor_runs")
    return time.perf_counter() - started


def _timed(fn: Callable[[], Any], repeat: int = 5) -> tuple[float, float]:
    started = time.perf_counter()
    fn()
    cold = time.perf_counter() - started
    warm = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        warm.append(time.perf_counter() - started)
    return cold, statistics.median(warm)


def measure(engine: Engine, windows: int) -> list[dict[str, Any]]:
    shell = Shell()
    latest = T0 + dt.timedelta(hours=windows - 1)
    pages: dict[str, Callable[[], Any]] = {
        "model page": lambda: dashboard.render_model(dashboard.load_model(engine, MODEL, "", has_labels=True), shell),
        "/metrics": lambda: prometheus.exposition(
            [(MODEL, prometheus.latest_run(engine, MODEL), prometheus.latest_metric_rows(engine, MODEL))]
        ),
        "overview": lambda: dashboard.render_index([dashboard.load_summary(engine, MODEL, "")], shell),
        "window page": lambda: dashboard.render_window(dashboard.load_window(engine, MODEL, latest), shell),  # type: ignore[arg-type]
    }
    rows = []
    for name, fn in pages.items():
        cold, warm = _timed(fn)
        rows.append({"page": name, "cold_s": round(cold, 3), "median_s": round(warm, 3), "bytes": len(fn())})
    return rows


def main(quick: bool = False) -> dict[str, Any]:
    windows = QUICK_WINDOWS if quick else WINDOWS
    rows: list[dict[str, Any]] = []
    goals: dict[str, Any] = {}
    for db in ("sqlite", "postgresql"):
        writer = _engine(db, quick)
        generated = prepare(writer, windows)
        writer.dispose()
        engine = limit_statements(_engine(db, quick), 10.0)  # as the UI reads
        with engine.connect() as conn:
            count = conn.execute(sa.select(sa.func.count()).select_from(metrics)).scalar_one()
        for r in measure(engine, windows):
            rows.append({"database": db, "windows": windows, "metric_rows": count, **r})
            if r["page"] in ("model page", "/metrics"):
                goals[f"{db} {r['page']} < {LIMIT_SECONDS:g} s"] = {
                    "target": f"median under {LIMIT_SECONDS:g} s",
                    "met": r["median_s"] < LIMIT_SECONDS,
                    "value": r["median_s"],
                }
        rows[-1]["generated_s"] = round(generated, 1)
        engine.dispose()
    return {"title": f"UI reads on {windows} hourly windows x 100 metrics", "rows": rows, "goals": goals}


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    print(json.dumps(main(parser.parse_args().quick), indent=2, default=str))
