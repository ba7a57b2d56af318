"""Training quantiles on SQLite, PostgreSQL and MariaDB: mlmonitor's one ordered statement per column
against the offset form it replaced (issue 16: one `ORDER BY x LIMIT 1 OFFSET k` per quantile).

`python -m tests.benchmarks.run --only quantiles [--quick]`. Each warehouse gets a scratch table of
normal values (1M rows; 100k with --quick; PostgreSQL and MariaDB in scratch databases created and
dropped here, skipped when the server is down). Reported: seconds of `quantiles()` for the 15
baseline points (best of 2), the statements it sent, and the offset form's seconds.
"""

from __future__ import annotations

import math
import os
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from mlmonitor import profile as prof
from mlmonitor.dialect import Double, as_float

SERVERS = {
    "postgresql": (
        os.environ.get("MLMONITOR_PG_ADMIN_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"),
        '"',
    ),
    "mariadb": (os.environ.get("MLMONITOR_MARIADB_ADMIN_URL", "mysql+pymysql://root@127.0.0.1:3306/test"), "`"),
}


@contextmanager
def scratch(db: str, tmp: str) -> Iterator[Engine | None]:
    """An engine on a scratch database of `db` (None when its server is down), dropped afterwards."""
    if db == "sqlite":
        engine = sa.create_engine(f"sqlite:///{tmp}/quantiles-{uuid.uuid4().hex[:8]}.db")
        yield engine
        engine.dispose()
        os.remove(str(engine.url.database))
        return
    admin_url, quote = SERVERS[db]
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"mlmonitor_bench_q_{uuid.uuid4().hex[:8]}"
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE {quote}{name}{quote}")
    except sa.exc.OperationalError:
        yield None
        return
    engine = sa.create_engine(admin.url.set(database=name))
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {quote}{name}{quote}")
        admin.dispose()


def offset_quantiles(engine: Engine, col: sa.Column[object], points: Sequence[float]) -> dict[float, float]:
    """The form replaced in issue 16: a count, then one ordered query per quantile."""
    x = as_float(col)
    present = col.isnot(None)
    with engine.connect() as conn:
        n = int(conn.execute(sa.select(sa.func.count()).select_from(col.table).where(present)).scalar_one())
        out = {}
        for p in points:
            stmt = sa.select(x).where(present).order_by(x).limit(1).offset(max(math.ceil(p * n) - 1, 0))
            out[p] = float(conn.execute(stmt).scalar_one())
        return out


def _best(run: Callable[[], Any], times: int = 2) -> tuple[float, Any]:
    best, result = math.inf, None
    for _ in range(times):
        started = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - started)
    return best, result


def measure(engine: Engine, rows: int) -> dict[str, Any]:
    md = sa.MetaData()
    table = sa.Table("values_", md, sa.Column("x", Double))
    md.create_all(engine)
    values = np.random.default_rng(11).normal(0.0, 1.0, rows)
    with engine.begin() as conn:
        for i in range(0, rows, 50_000):
            conn.execute(table.insert(), [{"x": float(v)} for v in values[i : i + 50_000]])
    statements: list[str] = []

    def log(*args: Any) -> None:
        statements.append(args[2])

    sa.event.listen(engine, "before_cursor_execute", log)
    seconds, got = _best(lambda: prof.quantiles(engine, table.c.x, None, prof.QUANTILES, present=rows), times=2)
    sa.event.remove(engine, "before_cursor_execute", log)
    sent = len(statements) // 2  # per run
    offset_seconds, reference = _best(lambda: offset_quantiles(engine, table.c.x, prof.QUANTILES), times=1)
    return {
        "rows": rows,
        "points": len(prof.QUANTILES),
        "statements": sent,
        "seconds": round(seconds, 3),
        "offset_form_seconds": round(offset_seconds, 3),
        "speed-up": round(offset_seconds / seconds, 1),
        "same_values": got == reference,
    }


def main(quick: bool = False) -> dict[str, Any]:
    import tempfile

    rows = 100_000 if quick else 1_000_000
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for db in ("sqlite", "postgresql", "mariadb"):
            with scratch(db, tmp) as engine:
                if engine is None:
                    out.append({"warehouse": db, "rows": rows, "skipped": "server down"})
                    continue
                out.append({"warehouse": db, **measure(engine, rows)})
    measured = [r for r in out if "statements" in r]
    return {
        "title": "exact quantiles: one statement per column vs one per quantile",
        "rows": out,
        "goals": {
            "one statement per column": {"target": 1, "met": all(r["statements"] == 1 for r in measured)},
            "identical to the offset form": {"target": True, "met": all(r["same_values"] for r in measured)},
        },
    }
