"""Speed and memory of the drift check on big windows, SQLite and PostgreSQL.

Windows of 1M and 10M rows x 20 monitored columns (13 numeric, 6 categorical, the prediction).
Three ways, each in its own process so its peak RSS is its own (the database server's memory is not
counted, for any of them):
- ours:  `mlmonitor.checks.drift.drift_metrics` (one aggregate query over the window, then the decision;
  on PostgreSQL one packed exact sum per column, elsewhere one FILTER count per edge);
- floor: `SELECT count(c1), ..., count(c20) FROM t WHERE <window>`, one pass reading every column;
- binning: `SELECT sum(<bin index of c1>), ...`: only the per-row work of putting each value in its
  bin (a binary search of nested CASEs, one aggregate per column), no histogram. It bounds what any
  exact one-pass binning in SQL can reach on this database, and shows how much of ours is binning;
- naive: pull the window into pandas and run scipy's ks_2samp / chi2_contingency per column
  (1M rows only unless --naive-10m: at 10M it needs ~17 GB, see issue 4).
Tables are generated in the database (PostgreSQL generate_series, SQLite recursive CTE) and kept
between runs (SQLite file var/bench/speed.db, PostgreSQL database mlmonitor_bench).
Goals: ours within 3x of the floor, peak RSS < 500 MB.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

ROOT = Path(__file__).resolve().parents[2]
SQLITE = ROOT / "var" / "bench" / "speed.db"
PG_ADMIN = os.environ.get("MLMONITOR_PG_ADMIN_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")
PG_DB = "mlmonitor_bench"
NUMERIC = [f"n{i}" for i in range(1, 14)]
CATEGORICAL = [f"c{i}" for i in range(1, 7)]
COLUMNS = [*NUMERIC, *CATEGORICAL, "pred"]
TRAIN_ROWS = 100_000
T0 = dt.datetime(2024, 1, 1)


def url(db: str, pg_db: str = PG_DB, sqlite: Path = SQLITE) -> str:
    if db == "sqlite":
        return f"sqlite:///{sqlite}"
    return sa.make_url(PG_ADMIN).set(database=pg_db).render_as_string(hide_password=False)


def engine_for(db: str, pg_db: str = PG_DB, sqlite: Path = SQLITE) -> Engine:
    """A kept benchmark database: the PostgreSQL database `pg_db` (created when missing) or the SQLite file."""
    if db == "postgresql":
        admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            if not conn.exec_driver_sql(f"SELECT 1 FROM pg_database WHERE datname = '{pg_db}'").first():
                conn.exec_driver_sql(f'CREATE DATABASE "{pg_db}"')
        admin.dispose()
    else:
        sqlite.parent.mkdir(parents=True, exist_ok=True)
    return sa.create_engine(url(db, pg_db, sqlite))


def _select_sql(db: str, rows: int) -> str:
    """The generated columns: numeric of various shapes, 8-valued categories, ~1 % NULLs, a score in [0, 1]."""
    u = "random()" if db == "postgresql" else "((random() / 18446744073709551616.0) + 0.5)"
    numeric = [f"CASE WHEN {u} < 0.01 THEN NULL ELSE ({u} + {u} + {u}) * {i} END AS n{i}" for i in range(1, 14)]
    cat = [
        f"CASE WHEN {u} < 0.01 THEN NULL ELSE 'v' || CAST(({u} * {u} * 8) AS INTEGER) END AS c{i}" for i in range(1, 7)
    ]
    ts = (
        f"timestamp '{T0:%Y-%m-%d}' + g * interval '1 millisecond'"
        if db == "postgresql"
        else f"strftime('%Y-%m-%d %H:%M:%f', '{T0:%Y-%m-%d}', '+' || (g / 1000.0) || ' seconds')"
    )
    return f"SELECT g AS id, {ts} AS ts, {', '.join(numeric)}, {', '.join(cat)}, {u} AS pred"


def ensure_table(engine: Engine, name: str, rows: int) -> float:
    """Create and fill `name` with `rows` rows unless it already has them; returns seconds spent."""
    db = engine.dialect.name
    with engine.connect() as conn:
        if sa.inspect(conn).has_table(name) and conn.exec_driver_sql(f"SELECT count(*) FROM {name}").scalar() == rows:
            return 0.0
    started = time.perf_counter()
    cols = ", ".join([f"{c} DOUBLE PRECISION" for c in NUMERIC] + [f"{c} VARCHAR(8)" for c in CATEGORICAL])
    ts_type = "TIMESTAMP" if db == "postgresql" else "DATETIME"
    with engine.begin() as conn:
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {name}")
        conn.exec_driver_sql(
            f"CREATE TABLE {name} (id BIGINT PRIMARY KEY, ts {ts_type}, {cols}, pred DOUBLE PRECISION)"
        )
        source = (
            f"FROM generate_series(1, {rows}) AS g"
            if db == "postgresql"
            else f"FROM (WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < {rows}) "
            "SELECT g FROM s)"
        )
        conn.exec_driver_sql(f"INSERT INTO {name} {_select_sql(db, rows)} {source}")
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql(f"VACUUM ANALYZE {name}" if db == "postgresql" else "ANALYZE")
    return time.perf_counter() - started


def window(rows: int) -> tuple[dt.datetime, dt.datetime]:
    """A window holding every row of the table (ts = T0 + id ms), as a predicate the database must evaluate."""
    return T0, T0 + dt.timedelta(milliseconds=rows + 1)


def model_config(serving: str) -> Any:
    from mlmonitor.config import parse_model

    data = {
        "name": "speed",
        "training": {"table": "speed_train"},
        "serving": {"table": serving, "timestamp_column": "ts", "id_column": "id"},
        "prediction": {"column": "pred", "task": "classification"},
        "features": {"numeric": NUMERIC, "categorical": CATEGORICAL},
        "start_date": "2024-01-01",
    }
    return parse_model(data, Path("speed.yaml"))


def baseline_for(db: str, engine: Engine) -> Path:
    from mlmonitor.storage.baselines import derive_baseline, save_baseline
    from mlmonitor.warehouse import resolve_tables

    path = ROOT / "var" / "bench" / f"speed-baseline-{db}.json"
    if not path.exists():
        model = model_config("speed_train")
        save_baseline(derive_baseline(model, engine, resolve_tables(model, engine)), path)
    return path


def measure(approach: str, db: str, rows: int) -> dict[str, Any]:
    """Run one approach in this process; seconds of the work itself and the process's peak RSS."""
    engine = sa.create_engine(url(db))
    name = f"speed_{rows}"
    start, end = window(rows)
    with engine.connect() as conn:  # connect and load the dialect outside the timed part
        conn.exec_driver_sql("SELECT 1")
    if approach in ("floor", "binning"):
        t = sa.Table(name, sa.MetaData(), autoload_with=engine)
        exprs = [sa.func.count(t.c[c]) for c in COLUMNS] if approach == "floor" else binning(db, t)
        stmt = sa.select(*exprs).where(t.c.ts >= start, t.c.ts < end)
        began = time.perf_counter()
        with engine.connect() as conn:
            conn.execute(stmt).one()
    elif approach == "ours":
        import scipy.stats  # noqa: F401  (imported lazily by the decision; load it outside the timed part)

        from mlmonitor.checks.drift import drift_metrics
        from mlmonitor.storage.baselines import load_baseline
        from mlmonitor.warehouse import resolve_tables
        from mlmonitor.window import Window

        model = model_config(name)
        baseline = load_baseline(ROOT / "var" / "bench" / f"speed-baseline-{db}.json", "speed")
        began = time.perf_counter()
        tables = resolve_tables(model, engine)
        metrics = drift_metrics(
            engine, model, tables, baseline, Window(start.replace(tzinfo=dt.UTC), end.replace(tzinfo=dt.UTC))
        )
        assert len(metrics) > len(COLUMNS)
    else:
        import pandas as pd
        from scipy import stats

        cols = ", ".join(COLUMNS)
        began = time.perf_counter()
        with engine.connect() as conn:
            train = pd.read_sql(sa.text(f"SELECT {cols} FROM speed_train"), conn)
            df = pd.read_sql(
                sa.text(f"SELECT {cols} FROM {name} WHERE ts >= :s AND ts < :e"), conn, params={"s": start, "e": end}
            )
        for c in [*NUMERIC, "pred"]:
            stats.ks_2samp(train[c].dropna(), df[c].dropna())
        for c in CATEGORICAL:
            stats.chi2_contingency(
                pd.crosstab(pd.concat([train[c], df[c]]).fillna("NULL"), [0] * len(train) + [1] * len(df))
            )
    seconds = time.perf_counter() - began
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"seconds": round(seconds, 2), "peak_rss_mb": round(peak_mb)}


def binning(db: str, t: sa.Table) -> list[Any]:
    """Per column the sum of its bin index (numeric) or value index (categorical) against the baseline."""
    from mlmonitor.storage.baselines import load_baseline

    baseline = load_baseline(ROOT / "var" / "bench" / f"speed-baseline-{db}.json", "speed")
    edges = {c: baseline.numeric[c].edges for c in NUMERIC} | {"pred": baseline.prediction.edges}

    def search(x: Any, e: list[float], lo: int, hi: int) -> Any:
        if lo == hi:
            return sa.literal(lo)
        mid = (lo + hi) // 2
        return sa.case((x < e[mid], search(x, e, lo, mid)), else_=search(x, e, mid + 1, hi))

    exprs = [sa.func.sum(search(t.c[c], e, 0, len(e))) for c, e in edges.items()]
    for c in CATEGORICAL:
        values = sorted(baseline.categorical[c].top)
        exprs.append(sa.func.sum(sa.case({v: i for i, v in enumerate(values)}, value=t.c[c])))
    return exprs


def _child(approach: str, db: str, rows: int) -> dict[str, Any]:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.benchmarks.bench_drift_speed",
            "--measure",
            approach,
            "--db",
            db,
            "--rows",
            str(rows),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"}
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main(
    quick: bool = False, naive_10m: bool = False, dbs: tuple[str, ...] = ("sqlite", "postgresql")
) -> dict[str, Any]:
    sizes = (100_000,) if quick else (1_000_000, 10_000_000)
    rows_out: list[dict[str, Any]] = []
    ratios: list[float] = []
    peaks: list[float] = []
    for db in dbs:
        try:
            engine = engine_for(db)
        except sa.exc.OperationalError as exc:
            rows_out.append({"db": db, "error": f"unreachable: {exc.orig}"})
            continue
        ensure_table(engine, "speed_train", TRAIN_ROWS)
        baseline_for(db, engine)
        for rows in sizes:
            built = ensure_table(engine, f"speed_{rows}", rows)
            engine.dispose()
            floor = _child("floor", db, rows)
            bins = _child("binning", db, rows)
            ours = _child("ours", db, rows)
            run_naive = rows <= 1_000_000 or naive_10m
            naive = _child("naive", db, rows) if run_naive else {"error": "skipped (~17 GB at 10M rows)"}
            ratio = ours["seconds"] / floor["seconds"] if "seconds" in ours and "seconds" in floor else None
            if ratio is not None:
                ratios.append(ratio)
                peaks.append(ours["peak_rss_mb"])
            rows_out.append(
                {
                    "db": db,
                    "rows": rows,
                    "floor_s": floor.get("seconds"),
                    "ours_s": ours.get("seconds"),
                    "ours/floor": round(ratio, 2) if ratio else None,
                    "binning_s": bins.get("seconds"),
                    "binning/floor": round(bins["seconds"] / floor["seconds"], 2)
                    if "seconds" in bins and "seconds" in floor
                    else None,
                    "naive_s": naive.get("seconds"),
                    "floor_rss_mb": floor.get("peak_rss_mb"),
                    "ours_rss_mb": ours.get("peak_rss_mb"),
                    "naive_rss_mb": naive.get("peak_rss_mb"),
                    "note": "; ".join(x for x in (ours.get("error"), floor.get("error"), naive.get("error")) if x)
                    + (f" (table built in {built:.0f} s)" if built else ""),
                }
            )
            print(rows_out[-1], flush=True)
    return {
        "title": "drift on big windows x 20 columns: ours vs the one-pass floor vs pandas+scipy (seconds, MB)",
        "rows": rows_out,
        "goals": {
            "within 3x of the floor": {
                "target": "<= 3",
                "value": max(ratios, default=None),
                "met": bool(ratios) and max(ratios) <= 3,
            },
            "peak RSS": {
                "target": "< 500 MB",
                "value": max(peaks, default=None),
                "met": bool(peaks) and max(peaks) < 500,
            },
        },
    }


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--measure", choices=("ours", "floor", "binning", "naive"))
    p.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--naive-10m", action="store_true")
    a = p.parse_args()
    if a.measure:
        print(json.dumps(measure(a.measure, a.db, a.rows)))
    else:
        print(json.dumps(main(a.quick, a.naive_10m), indent=2))
