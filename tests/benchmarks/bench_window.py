"""`mlmonitor run` end to end on big windows, and the fixed cost of small ones (issue 19).

Big windows: 100k / 1M rows x 20 monitored columns (13 numeric, 6 categorical, the prediction; the
tables of bench_drift_speed, in databases of their own: var/bench/window.db and the PostgreSQL database
mlmonitor_bench_window), plus 10M on PostgreSQL outside quick mode. Each `mlmonitor run` is a process
of its own, started through a small wrapper that reports the child's peak RSS
(getrusage(RUSAGE_CHILDREN)); the database server's memory is not counted. Beside it the floor:
`SELECT count(c1), ..., count(c20)` over the same window, and the process's import floor
(`import mlmonitor.cli, great_expectations`).

Small windows: 1,000-row hourly windows (the 100k table re-timed to 3.6 s a row): one `mlmonitor run`
(a cold process), then `mlmonitor backfill` over 5 (quick) or 100 windows in one process, whose
per-window times show whether the last windows cost what the first did.

Goals (issue 19): peak RSS < 500 MB at every size; 10M within 10x the floor on PostgreSQL; a 1k-row
window <= 2 s beyond imports through the CLI; a backfill >= 1 window/s.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml
from sqlalchemy.engine import Engine

from tests.benchmarks.bench_drift_speed import CATEGORICAL, COLUMNS, NUMERIC, T0, TRAIN_ROWS, ensure_table, window
from tests.benchmarks.bench_drift_speed import engine_for as speed_engine

ROOT = Path(__file__).resolve().parents[2]
SQLITE = ROOT / "var" / "bench" / "window.db"
PG_DB = "mlmonitor_bench_window"
SMALL_ROWS = 1000  # rows per hourly window of the `hourly` table
_WRAP = (
    "import resource, subprocess, sys, time\n"
    "t = time.perf_counter(); r = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
    "print(r.stdout[-3000:], file=sys.stderr); print(r.stderr[-3000:], file=sys.stderr)\n"
    "u = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
    "print(r.returncode, round(time.perf_counter() - t, 2), round(u.ru_utime + u.ru_stime, 2), u.ru_maxrss)"
)


def engine_for(db: str) -> Engine:
    return speed_engine(db, pg_db=PG_DB, sqlite=SQLITE)


def timed(argv: list[str], env: dict[str, str]) -> dict[str, Any]:
    """Run `argv` as a child of a fresh wrapper process: exit code, wall seconds, the child's CPU seconds
    (user + system: what the machine's other load inflates least) and peak RSS."""
    done = subprocess.run(
        [sys.executable, "-c", _WRAP, *argv], capture_output=True, text=True, env=env, cwd=ROOT, check=False
    )
    code, seconds, cpu, rss_kb = done.stdout.split()[-4:]
    return {
        "exit": int(code),
        "seconds": float(seconds),
        "cpu_s": float(cpu),
        "peak_rss_mb": round(int(rss_kb) / 1024),
        "log": done.stderr,
    }


def floor_seconds(engine: Engine, table: str, start: Any, end: Any) -> float:
    t = sa.Table(table, sa.MetaData(), autoload_with=engine)
    stmt = sa.select(*[sa.func.count(t.c[c]) for c in COLUMNS]).where(t.c.ts >= start, t.c.ts < end)
    with engine.connect() as conn:
        conn.exec_driver_sql("SELECT 1")
        began = time.perf_counter()
        conn.execute(stmt).one()
        return time.perf_counter() - began


def ensure_hourly(engine: Engine) -> None:
    """`hourly`: the 100k table re-timed to one row every 3.6 s (1,000 rows per hour), indexed on ts
    as serving logs are."""
    with engine.connect() as conn:
        if sa.inspect(conn).has_table("hourly"):
            return
    pg = engine.dialect.name == "postgresql"
    ts = (
        f"timestamp '{T0:%Y-%m-%d}' + id * interval '3600 milliseconds'"
        if pg
        else f"strftime('%Y-%m-%d %H:%M:%f', '{T0:%Y-%m-%d}', '+' || (id * 3.6) || ' seconds')"
    )
    cols = ", ".join([f"{c} DOUBLE PRECISION" for c in NUMERIC] + [f"{c} VARCHAR(8)" for c in CATEGORICAL])
    with engine.begin() as conn:
        conn.exec_driver_sql(
            f"CREATE TABLE hourly (id BIGINT PRIMARY KEY, ts {'TIMESTAMP' if pg else 'DATETIME'}, {cols}, "
            "pred DOUBLE PRECISION)"
        )
        others = ", ".join(COLUMNS)
        conn.exec_driver_sql(f"INSERT INTO hourly SELECT id, {ts}, {others} FROM speed_100000")
        conn.exec_driver_sql("CREATE INDEX hourly_ts ON hourly (ts)")


def write_model(models: Path, name: str, serving: str, schedule: str = "@daily") -> None:
    data = {
        "name": name,
        "training": {"table": "speed_train"},
        "serving": {"table": serving, "timestamp_column": "ts", "id_column": "id"},
        "prediction": {"column": "pred", "task": "classification"},
        "features": {"numeric": NUMERIC, "categorical": CATEGORICAL},
        "start_date": "2024-01-01",
        "schedule": schedule,
    }
    (models / f"{name}.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "mlmonitor.cli", *args]


def main(quick: bool = False) -> dict[str, Any]:
    rows_out: list[dict[str, Any]] = []
    peaks: list[int] = []
    ratio_10m: float | None = None
    small: dict[str, Any] = {}
    work = Path(tempfile.mkdtemp(prefix="bench-window-"))
    models = work / "models"
    models.mkdir()
    env = {**os.environ, "MLMONITOR_MODELS_DIR": str(models), "MLMONITOR_GX_ROOT": str(work / "gx")}
    env.pop("MLMONITOR_WAREHOUSE_URL", None)
    imports = timed([sys.executable, "-c", "import mlmonitor.cli, great_expectations"], env)
    rows_out.append({"db": "-", "case": "import mlmonitor.cli + GE", **_row(imports)})
    print(rows_out[-1], flush=True)
    for db in ("postgresql", "sqlite"):
        try:
            engine = engine_for(db)
        except sa.exc.OperationalError as exc:
            rows_out.append({"db": db, "case": f"unreachable: {exc.orig}"})
            continue
        url = engine.url.render_as_string(hide_password=False)
        ensure_table(engine, "speed_train", TRAIN_ROWS)
        sizes = [100_000] if quick else [100_000, 1_000_000] + ([10_000_000] if db == "postgresql" else [])
        for rows in sizes:
            built = ensure_table(engine, f"speed_{rows}", rows)
            name = f"w{db[:2]}{rows}"
            write_model(models, name, f"speed_{rows}")
            derive = timed(_cli("baseline", name, "--warehouse-url", url), env)
            assert derive["exit"] == 0, derive["log"][-2000:]
            start, end = window(rows)
            floor = floor_seconds(engine, f"speed_{rows}", start, end)
            run = timed(
                _cli("run", name, "--start", start.isoformat(), "--end", end.isoformat(), "--warehouse-url", url), env
            )
            peaks.append(run["peak_rss_mb"])
            beyond = run["seconds"] - imports["seconds"]
            if rows == 10_000_000:
                ratio_10m = run["seconds"] / floor
            rows_out.append(
                {
                    "db": db,
                    "case": f"run, {rows:,} rows",
                    **_row(run),
                    "floor_s": round(floor, 2),
                    "run/floor": round(run["seconds"] / floor, 1),
                    "beyond_imports_s": round(beyond, 2),
                    "cpu_beyond_imports_s": round(run["cpu_s"] - imports["cpu_s"], 2),
                    "note": f"table built in {built:.0f} s" if built else "",
                }
            )
            print(rows_out[-1], flush=True)
        ensure_hourly(engine)
        write_model(models, f"h{db[:2]}", "hourly", schedule="@hourly")
        assert timed(_cli("baseline", f"h{db[:2]}", "--warehouse-url", url), env)["exit"] == 0
        first = T0.replace(hour=1)
        cold = timed(
            _cli(
                "run",
                f"h{db[:2]}",
                "--start",
                first.isoformat(),
                "--end",
                first.replace(hour=2).isoformat(),
                "--warehouse-url",
                url,
            ),
            env,
        )
        rows_out.append({"db": db, "case": f"run, one {SMALL_ROWS:,}-row window (cold CLI)", **_row(cold),
                         "beyond_imports_s": round(cold["seconds"] - imports["seconds"], 2),
                         "cpu_beyond_imports_s": round(cold["cpu_s"] - imports["cpu_s"], 2)})  # fmt: skip
        print(rows_out[-1], flush=True)
        windows = 5 if quick else 100
        last = first + (T0.replace(hour=1) - T0) * windows
        fill = timed(
            _cli(
                "backfill",
                f"h{db[:2]}",
                "--start",
                first.isoformat(),
                "--end",
                last.isoformat(),
                "--warehouse-url",
                url,
            ),
            env,
        )
        each = [float(s) for s in re.findall(r"\): \w+ \((\d+\.\d+) s\)", fill["log"])]
        k = max(1, len(each) // 10)
        per_s = re.search(r"\(([\d.]+) windows/s\)", fill["log"])
        small[db] = {
            "windows_per_s": float(per_s.group(1)) if per_s else None,
            "first": statistics.median(each[:k]) if each else None,
            "last": statistics.median(each[-k:]) if each else None,
        }
        rows_out.append(
            {
                "db": db,
                "case": f"backfill, {windows} windows of {SMALL_ROWS:,} rows",
                **_row(fill),
                "windows_per_s": small[db]["windows_per_s"],
                "median_first_s": small[db]["first"],
                "median_last_s": small[db]["last"],
                "beyond_imports_s": round((fill["seconds"] - imports["seconds"]) / windows, 2),
                "cpu_per_window_s": round((fill["cpu_s"] - imports["cpu_s"]) / windows, 2),
            }
        )
        print(rows_out[-1], flush=True)
        engine.dispose()
    cold_beyond = [r["beyond_imports_s"] for r in rows_out if "cold CLI" in r["case"]]
    rates = [s["windows_per_s"] for s in small.values() if s["windows_per_s"]]
    return {
        "title": "mlmonitor run end to end (seconds, peak RSS of the process) vs the floor; small-window cost",
        "rows": rows_out,
        "goals": {
            "peak RSS of mlmonitor run": {"target": "< 500 MB", "value": max(peaks, default=None),
                                          "met": bool(peaks) and max(peaks) < 500},
            "10M rows within 10x the floor (PostgreSQL)": {"target": "<= 10", "value": ratio_10m,
                                                           "met": ratio_10m is not None and ratio_10m <= 10},
            "1k-row window beyond imports (cold CLI)": {"target": "<= 2 s", "value": max(cold_beyond, default=None),
                                                       "met": bool(cold_beyond) and max(cold_beyond) <= 2},
            "backfill of 1k-row windows": {"target": ">= 1 window/s", "value": min(rates, default=None),
                                           "met": bool(rates) and min(rates) >= 1},
        },
        "small_windows": small,
    }  # fmt: skip


def _row(result: dict[str, Any]) -> dict[str, Any]:
    return {k: result[k] for k in ("exit", "seconds", "cpu_s", "peak_rss_mb")}


if __name__ == "__main__":
    print(json.dumps(main(quick="--quick" in sys.argv), indent=2, default=str))
