"""Portability: the statistics are the same on SQLite, PostgreSQL and MariaDB (one window, three
warehouses), text compares exactly everywhere, quantiles cost one statement per column, and only a
lost connection (not a mistake in the SQL) is retried."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from mlmonitor import profile as prof
from mlmonitor.dialect import Double, capabilities, is_transient
from mlmonitor.errors import WarehouseUnavailable
from mlmonitor.metrics import Metric, RunSummary
from mlmonitor.storage.results import read_metrics, read_runs, write_results
from mlmonitor.warehouse import unavailable_as_error, window_filter
from mlmonitor.window import Window

T0 = dt.datetime(2024, 3, 1)
WINDOW = Window.of(T0 + dt.timedelta(days=1), T0 + dt.timedelta(days=2))
# categories that only an exact comparison keeps apart: case, trailing and leading spaces, empty, accents
CATEGORIES = ["a", "A", "a ", " a", "", "b", "é", "e", "B"]
EDGES = [-1.0, 0.0, 0.5, 1.0, 2.0]


def _table(engine: Engine, rows: list[dict[str, Any]]) -> sa.Table:
    md = sa.MetaData()
    t = sa.Table(
        "w",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("ts", sa.DateTime),
        sa.Column("x", Double),
        sa.Column("n", sa.BigInteger),
        sa.Column("c", sa.String(8)),
    )
    md.create_all(engine)
    if rows:
        with engine.begin() as conn:
            conn.execute(t.insert(), rows)
    return t


def _rows(size: int = 3000) -> list[dict[str, Any]]:
    """Two days of rows; values on the edges, repeated values, big integers, NULLs in every column."""
    rng = np.random.default_rng(3)
    x = rng.normal(0.5, 1.0, size).round(3)
    x[::17] = rng.choice(EDGES, len(x[::17]))  # exactly on an edge: goes to the upper bin
    rows = []
    for i in range(size):
        rows.append(
            {
                "id": i,
                "ts": T0 + dt.timedelta(seconds=int(i * 2 * 86_400 / size)),
                "x": None if i % 23 == 0 else float(x[i]),
                "n": None if i % 29 == 0 else int(rng.integers(-5, 5)) * 10**12,
                "c": None if i % 31 == 0 else CATEGORIES[int(rng.integers(0, len(CATEGORIES)))],
            }
        )
    return rows


def _statistics(engine: Engine) -> dict[str, Any]:
    t = _table(engine, _rows())
    where = window_filter(t.c.ts, WINDOW)
    numeric = prof.numeric_profile(engine, t.c.x, where)
    integers = prof.numeric_profile(engine, t.c.n, where)
    return {
        "window_counts": prof.window_counts(
            engine, t, {"x": EDGES, "n": [0.0, 2e12]}, {"c": ["a", "A", "a ", "", "é"]}, where
        ),
        "bin_stats": prof.bin_stats(engine, t.c.x, EDGES, where)[::2],  # counts and nulls (means: below)
        "bin_means": prof.bin_stats(engine, t.c.x, EDGES, where)[1],
        "quantiles": (numeric.quantiles, integers.quantiles),
        "moments": (numeric.count, numeric.nulls, numeric.min, numeric.max, integers.min, integers.max),
        "mean_std": (numeric.mean, numeric.std, integers.mean, integers.std),
        "categorical": prof.categorical_profile(engine, t.c.c, top_k=5, where=where),
        "category_counts": prof.category_counts(engine, t.c.c, ["a", "A", " a", "e"], where),
        "unseen": prof.unseen_values(engine, t.c.c, ["a", "b"], where, limit=20),
    }


@pytest.mark.postgres
@pytest.mark.mariadb
def test_the_same_window_gives_the_same_statistics_on_all_three_warehouses(
    sqlite_database: dict[str, str], postgres_database: dict[str, str], mariadb_database: dict[str, str]
) -> None:
    results = {}
    for db in (sqlite_database, postgres_database, mariadb_database):
        engine = sa.create_engine(db["url"])
        try:
            results[engine.dialect.name] = _statistics(engine)
        finally:
            engine.dispose()
    sqlite = results.pop("sqlite")
    total, counts = sqlite["window_counts"]
    assert total == 1500 and sum(counts["c"].counts) + counts["c"].nulls == 1500
    assert len(sqlite["categorical"].top) == 5 and sqlite["categorical"].distinct == len(CATEGORIES)
    assert {v for v, _ in sqlite["unseen"]} == set(CATEGORIES) - {"a", "b"}
    for name, other in results.items():
        for key in ("window_counts", "bin_stats", "quantiles", "moments", "categorical", "category_counts", "unseen"):
            assert other[key] == sqlite[key], f"{name}: {key}"
        # sums in another order: equal to the last few bits
        assert other["bin_means"] == pytest.approx(sqlite["bin_means"], rel=1e-12)
        assert other["mean_std"] == pytest.approx(sqlite["mean_std"], rel=1e-9)


def test_text_compares_exactly(engine: Engine) -> None:
    """MariaDB's default collation finds 'a' = 'A' = 'a '; the statistics must not."""
    rows = [{"id": i, "ts": T0, "x": 0.0, "n": 0, "c": c} for i, c in enumerate(["a", "A", "a ", "", "a", None])]
    t = _table(engine, rows)
    assert prof.category_counts(engine, t.c.c, ["a", "A"]) == ({"a": 2, "A": 1}, 2, 1)
    profile = prof.categorical_profile(engine, t.c.c, top_k=10)
    assert profile.top == {"a": 2, "": 1, "A": 1, "a ": 1} and profile.distinct == 4
    _, counts = prof.window_counts(engine, t, {}, {"c": ["a", "a "]})
    assert counts["c"] == prof.ColumnCounts([2, 1, 2], 1)
    assert prof.unseen_values(engine, t.c.c, ["a"]) == [("", 1), ("A", 1), ("a ", 1)]


def test_quantiles_take_one_statement_per_column_whatever_the_points(engine: Engine) -> None:
    """The offset form sorted the column once per quantile (16 statements for 15 points)."""
    values = [float(v) for v in np.random.default_rng(5).normal(0, 1, 997).round(4)]
    t = _table(engine, [{"id": i, "ts": T0, "x": v, "n": None, "c": None} for i, v in enumerate(values)])
    statements: list[str] = []
    sa.event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    got = prof.quantiles(engine, t.c.x, None, prof.QUANTILES, present=len(values))
    assert len(statements) == 1, statements
    ordered = sorted(values)
    # percentile_disc: the value at rank ceil(p * n) (at least the first)
    assert got == {p: ordered[max(math.ceil(p * len(values)), 1) - 1] for p in prof.QUANTILES}
    statements.clear()
    profile = prof.numeric_profile(engine, t.c.x)
    assert len(statements) == 3, "aggregates, variance, quantiles: no statement per quantile"
    assert profile.quantiles == {f"{p:g}": v for p, v in got.items()}
    statements.clear()
    assert prof.quantiles(engine, t.c.x, t.c.id < 0, prof.QUANTILES) == {}  # no values: no quantiles
    assert prof.quantiles(engine, t.c.n, None, (0.5,)) == {}  # all NULL


def test_quantiles_rank_again_when_rows_arrive_after_the_count(engine: Engine) -> None:
    if capabilities(engine.dialect).ordered_set_quantiles:
        pytest.skip("percentile_disc counts and ranks in one aggregate")
    t = _table(engine, [{"id": i, "ts": T0, "x": float(i), "n": None, "c": None} for i in range(1, 11)])
    # counted 8 (two rows arrived since): ranks of 8 would pick 4.0 for the median; of 10, 5.0
    assert prof.quantiles(engine, t.c.x, None, (0.5, 1.0), present=8) == {0.5: 5.0, 1.0: 10.0}


def test_a_mistake_in_the_sql_is_not_retried_like_a_lost_connection(engine: Engine) -> None:
    """MariaDB reports an unknown column as an OperationalError, as it does a lost connection: only the
    error codes tell them apart (a mistake would otherwise be retried as 'cannot reach the warehouse')."""
    _table(engine, [])
    with pytest.raises(sa.exc.DBAPIError) as caught, unavailable_as_error(engine), engine.connect() as conn:
        conn.exec_driver_sql("SELECT no_such_column FROM w")
    assert not isinstance(caught.value, WarehouseUnavailable)
    assert not is_transient(engine.dialect, caught.value)


@pytest.mark.mariadb
def test_a_refused_mariadb_connection_is_retried(mariadb_database: dict[str, str]) -> None:
    closed = sa.create_engine(sa.make_url(mariadb_database["url"]).set(port=_free_port()))
    with (
        pytest.raises(WarehouseUnavailable, match=r"cannot reach the warehouse .*Can't connect.*; the task is retried"),
        unavailable_as_error(closed),
        closed.connect(),
    ):
        pass


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_results_keep_sub_second_bounds_long_details_and_non_finite_values(engine: Engine) -> None:
    """The results tables on every warehouse: a window bound with microseconds is matched again on a
    rerun (MariaDB's DATETIME would drop them), details over 64 KiB are kept (its TEXT would refuse
    them), and NaN / infinity, which MariaDB cannot store, become NULL."""
    start = dt.datetime(2024, 3, 1, 0, 0, 0, 500_000, tzinfo=dt.UTC)
    summary = RunSummary(
        model="m",
        window_start=start.isoformat(),
        window_end=(start + dt.timedelta(hours=1)).isoformat(),
        rows=1,
        model_versions={},
        status="ok",
        failed_expectations=0,
        drifted_features=0,
        message="x" * 70_000,
    )
    rows = [
        Metric(check="drift", column="c", metric="psi", value=math.inf, threshold=math.nan, p_value=-math.inf),
        Metric(check="drift", column="d", metric="psi", value=0.5, details={"values": ["v" * 100] * 1000}),
        Metric(check="drift", column="e", metric="psi", value=math.pi / 3, threshold=0.1, p_value=1.5e-12),
    ]
    for _ in range(2):  # the rerun replaces the rows of the same window
        write_results(engine, summary, rows, dt.datetime(2024, 3, 2, 12, 0, 0, 123_456))
    (run,) = read_runs(engine, "m")
    assert run["window_start"] == start.replace(tzinfo=None) and len(run["message"]) == 70_000
    assert run["computed_at"] == dt.datetime(2024, 3, 2, 12, 0, 0, 123_456)
    got = {m["column_name"]: m for m in read_metrics(engine, "m", start)}
    assert (got["c"]["value"], got["c"]["threshold"], got["c"]["p_value"]) == (None, None, None)
    assert got["d"]["value"] == 0.5 and len(got["d"]["details"]) > 100_000
    # 8-byte floats read back as floats, every digit kept (not MariaDB's FLOAT, nor a 10-digit Decimal)
    assert (got["e"]["value"], got["e"]["p_value"]) == (math.pi / 3, 1.5e-12)
    assert type(got["e"]["value"]) is float and type(got["e"]["p_value"]) is float
