"""Column statistics computed with SQL aggregates, on a small hand-made SQLite table."""

from __future__ import annotations

import datetime as dt
import math
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from mlmonitor import profile as prof
from mlmonitor.dialect import Double, capabilities
from mlmonitor.profile import NumericProfile
from mlmonitor.warehouse import bound, window_filter
from mlmonitor.window import Window

T0 = dt.datetime(2024, 3, 1)  # stored naive UTC
# id 1..12: x = 1..10 then NULL, NULL; cat: a a a b b b c c d e NULL NULL; ts = T0 + (id-1) hours
X = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, None, None]
CAT = ["b", "a", "c", "b", "a", "d", "b", "c", "a", "e", None, None]


@pytest.fixture
def db(tmp_path: Path) -> tuple[Engine, sa.Table]:
    engine = sa.create_engine(f"sqlite:///{tmp_path}/w.db")
    md = sa.MetaData()
    t = sa.Table(
        "t",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("ts", sa.DateTime, nullable=False),
        sa.Column("x", sa.Integer),
        sa.Column("cat", sa.String(16)),
        sa.Column("empty", Double),
    )
    md.create_all(engine)
    rows = [{"id": i + 1, "ts": T0 + dt.timedelta(hours=i), "x": X[i], "cat": CAT[i], "empty": None} for i in range(12)]
    with engine.begin() as conn:
        conn.execute(t.insert(), rows)
    return engine, t


def test_row_count(db: tuple[Engine, sa.Table]) -> None:
    engine, t = db
    assert prof.row_count(engine, t) == 12
    assert prof.row_count(engine, t, t.c.x > 5) == 5  # 6..10


def test_numeric_profile(db: tuple[Engine, sa.Table]) -> None:
    engine, t = db
    p = prof.numeric_profile(engine, t.c.x)
    assert (p.count, p.nulls, p.min, p.max) == (12, 2, 1.0, 10.0)
    assert p.null_rate == pytest.approx(2 / 12)
    # mean = 55/10 = 5.5; E[x^2] = 385/10 = 38.5; population var = 38.5 - 5.5^2 = 8.25
    assert p.mean == pytest.approx(5.5)
    assert p.std == pytest.approx(math.sqrt(8.25), rel=1e-12)
    assert list(p.quantiles) == [f"{q:g}" for q in prof.QUANTILES]
    assert p.quantiles["0.001"] == 1.0  # ceil(0.01) - 1 = offset 0
    assert p.quantiles["0.5"] == 5.0
    assert p.quantiles["0.999"] == 10.0


def test_numeric_profile_with_where(db: tuple[Engine, sa.Table]) -> None:
    engine, t = db
    p = prof.numeric_profile(engine, t.c.x, t.c.id > 8)  # rows 9..12: x 9, 10, NULL, NULL
    assert (p.count, p.nulls, p.min, p.max, p.mean) == (4, 2, 9.0, 10.0, 9.5)
    # E[x^2] = (81+100)/2 = 90.5; var = 90.5 - 90.25 = 0.25
    assert p.std == pytest.approx(0.5)
    assert p.quantiles["0.5"] == 9.0  # ceil(0.5*2)-1 = 0 -> first of [9, 10]


def test_numeric_profile_of_all_null_column(db: tuple[Engine, sa.Table]) -> None:
    engine, t = db
    p = prof.numeric_profile(engine, t.c.empty)
    assert p == NumericProfile(count=12, nulls=12, min=None, max=None, mean=None, std=None, quantiles={})
    assert p.null_rate == 1.0
    assert prof.bin_edges(p, 10) == []


@pytest.mark.parametrize(
    ("p", "expected"),
    [
        (0.5, 5.0),  # ceil(0.5*10)=5 -> 5th value
        (0.9, 9.0),  # ceil(9)=9 -> 9th value
        (0.999, 10.0),  # ceil(9.99)=10 -> 10th value
        (0.05, 1.0),  # ceil(0.5)=1 -> 1st value
        (0.55, 6.0),  # ceil(5.5)=6 -> 6th value
        (1.0, 10.0),
        (0.0, 1.0),  # offset max(ceil(0)-1, 0) = 0
    ],
)
def test_quantiles_are_percentile_disc(db: tuple[Engine, sa.Table], p: float, expected: float) -> None:
    engine, t = db
    assert prof.quantiles(engine, t.c.x, None, [p]) == {p: expected}


def test_quantiles_respect_where_and_skip_nulls(db: tuple[Engine, sa.Table]) -> None:
    engine, t = db
    # x > 4 -> [5..10], n=6: p0.5 -> ceil(3)=3rd -> 7; p0.1 -> ceil(0.6)=1st -> 5
    assert prof.quantiles(engine, t.c.x, t.c.x > 4, [0.5, 0.1]) == {0.5: 7.0, 0.1: 5.0}


def test_bin_edges_from_profile_quantiles(db: tuple[Engine, sa.Table]) -> None:
    engine, t = db
    p = prof.numeric_profile(engine, t.c.x)
    assert prof.bin_edges(p, 2) == [5.0]  # point 0.5 -> q0.5 = 5
    # points 0.25, 0.5, 0.75 -> nearest stored quantile at or above: q0.3 = 3, q0.5 = 5, q0.8 = 8
    assert prof.bin_edges(p, 4) == [3.0, 5.0, 8.0]


def test_bin_edges_are_deduplicated_for_discrete_columns() -> None:
    qs = {f"{q:g}": (0.0 if q < 0.7 else 1.0) for q in prof.QUANTILES}
    p = NumericProfile(count=100, nulls=0, min=0.0, max=1.0, mean=0.3, std=0.46, quantiles=qs)
    assert prof.bin_edges(p, 10) == [0.0, 1.0]


def test_bin_counts(db: tuple[Engine, sa.Table]) -> None:
    engine, t = db
    # edges [3, 7]: x<3 -> {1,2}; 3<=x<7 -> {3,4,5,6}; x>=7 -> {7,8,9,10}; 2 NULLs
    assert prof.bin_counts(engine, t.c.x, [3.0, 7.0]) == ([2, 4, 4], 2)
    # an edge equal to a value puts the value in the upper bin: edges [5] -> {1..4}, {5..10}
    assert prof.bin_counts(engine, t.c.x, [5.0]) == ([4, 6], 2)
    # no edges -> one bin
    assert prof.bin_counts(engine, t.c.x, []) == ([10], 2)
    # with a filter: ids 1..6 -> x 1..6 -> [2, 4, 0], no nulls
    assert prof.bin_counts(engine, t.c.x, [3.0, 7.0], t.c.id <= 6) == ([2, 4, 0], 0)


def test_bin_index_treats_null_as_minus_one(db: tuple[Engine, sa.Table]) -> None:
    engine, t = db
    stmt = sa.select(t.c.id, prof.bin_index(t.c.x, [3.0, 7.0])).order_by(t.c.id)
    with engine.connect() as conn:
        got = [b for _, b in conn.execute(stmt)]
    assert got == [0, 0, 1, 1, 1, 1, 2, 2, 2, 2, -1, -1]


def test_categorical_profile_top_k_ties_by_value(db: tuple[Engine, sa.Table]) -> None:
    engine, t = db
    # frequencies: a 3, b 3, c 2, d 1, e 1, NULL 2
    p = prof.categorical_profile(engine, t.c.cat, top_k=3)
    assert list(p.top.items()) == [("a", 3), ("b", 3), ("c", 2)]  # a before b on the tie
    assert (p.count, p.nulls, p.distinct) == (12, 2, 5)
    assert p.other == 2  # 10 non-null - 8 in the top
    assert p.null_rate == pytest.approx(2 / 12)
    p4 = prof.categorical_profile(engine, t.c.cat, top_k=4)
    assert list(p4.top.items()) == [("a", 3), ("b", 3), ("c", 2), ("d", 1)]  # d before e on the tie
    assert p4.other == 1
    full = prof.categorical_profile(engine, t.c.cat, top_k=20)
    assert full.other == 0 and len(full.top) == 5


def test_value_set_and_singletons(db: tuple[Engine, sa.Table]) -> None:
    engine, t = db
    # a 3, b 3, c 2, d 1, e 1 (NULLs are no value): d and e occur once
    assert prof.value_set(engine, t.c.cat) == (["a", "b", "c", "d", "e"], 2)
    assert prof.value_set(engine, t.c.cat, where=t.c.id <= 4) == (["a", "b", "c"], 2)  # b a c b


def test_categorical_baseline_keeps_the_value_set_the_top_k_misses(db: tuple[Engine, sa.Table]) -> None:
    from mlmonitor.storage.baselines import categorical_baseline

    engine, t = db
    b = categorical_baseline(engine, t.c.cat, top_k=3, value_set_max=5)
    assert (b.values, b.singletons) == (["a", "b", "c", "d", "e"], 2)
    # more values than value_set_max, or a top-K that covers them all: no value set kept
    assert categorical_baseline(engine, t.c.cat, top_k=3, value_set_max=4).values is None
    assert categorical_baseline(engine, t.c.cat, top_k=5, value_set_max=5).values is None


def test_categorical_profile_with_where(db: tuple[Engine, sa.Table]) -> None:
    engine, t = db
    # ids 1..4: b a c b
    p = prof.categorical_profile(engine, t.c.cat, top_k=1, where=t.c.id <= 4)
    assert p.top == {"b": 2}
    assert (p.count, p.nulls, p.distinct, p.other) == (4, 0, 3, 2)


def test_category_counts(db: tuple[Engine, sa.Table]) -> None:
    engine, t = db
    counts, other, nulls = prof.category_counts(engine, t.c.cat, ["a", "b", "zzz"])
    assert counts == {"a": 3, "b": 3, "zzz": 0}  # a known value absent from the data counts 0
    assert other == 4  # c 2 + d 1 + e 1
    assert nulls == 2


def test_category_counts_with_no_known_values(db: tuple[Engine, sa.Table]) -> None:
    engine, t = db
    assert prof.category_counts(engine, t.c.cat, []) == ({}, 10, 2)


def test_unseen_values(db: tuple[Engine, sa.Table]) -> None:
    engine, t = db
    assert prof.unseen_values(engine, t.c.cat, ["a", "b"]) == [("c", 2), ("d", 1), ("e", 1)]
    assert prof.unseen_values(engine, t.c.cat, ["a", "b"], limit=2) == [("c", 2), ("d", 1)]
    assert prof.unseen_values(engine, t.c.cat, ["a", "b", "c", "d", "e"]) == []
    # ids 6..12: d b c a e NULL NULL -> unseen among ["a"]: b, c, d, e once each, value order
    assert prof.unseen_values(engine, t.c.cat, ["a"], t.c.id >= 6) == [("b", 1), ("c", 1), ("d", 1), ("e", 1)]


def test_window_filter_restricts_rows_to_half_open_window(db: tuple[Engine, sa.Table]) -> None:
    engine, t = db
    plus2 = dt.timezone(dt.timedelta(hours=2))
    # 05:00+02:00 = 03:00 UTC (inclusive) .. 06:00 UTC (exclusive): rows at hours 3, 4, 5 -> ids 4, 5, 6
    window = Window(dt.datetime(2024, 3, 1, 5, tzinfo=plus2), dt.datetime(2024, 3, 1, 6, tzinfo=dt.UTC))
    where = window_filter(t.c.ts, window)
    with engine.connect() as conn:
        ids = list(conn.execute(sa.select(t.c.id).where(where).order_by(t.c.id)).scalars())
    assert ids == [4, 5, 6]
    assert prof.row_count(engine, t, where) == 3
    # x is 4, 5, 6 in that window: mean 5
    assert prof.numeric_profile(engine, t.c.x, where).mean == pytest.approx(5.0)


def test_window_filter_uses_bound_parameters(db: tuple[Engine, sa.Table]) -> None:
    _, t = db
    window = Window(dt.datetime(2024, 3, 1, 3, tzinfo=dt.UTC), dt.datetime(2024, 3, 1, 6, tzinfo=dt.UTC))
    stmt = sa.select(t.c.id).where(window_filter(t.c.ts, window))
    compiled = stmt.compile()
    values = list(compiled.params.values())
    assert values == [dt.datetime(2024, 3, 1, 3), dt.datetime(2024, 3, 1, 6)]  # naive UTC, as the column stores
    assert all(isinstance(v, dt.datetime) and v.tzinfo is None for v in values)
    sql = str(compiled)
    assert "2024" not in sql
    assert sql.count(":") == 2  # two named bind parameters


def test_bound_keeps_aware_instants_for_timezone_columns() -> None:
    instant = dt.datetime(2024, 3, 1, 5, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    aware = sa.Column("ts", sa.DateTime(timezone=True))
    naive = sa.Column("ts", sa.DateTime())
    assert bound(aware, instant) is instant
    assert bound(naive, instant) == dt.datetime(2024, 3, 1, 3)


def test_std_is_exact_for_large_values_with_small_spread(tmp_path) -> None:
    """E[x^2] - E[x]^2 cancels to 0 here; the two-pass variance must not."""
    import math

    import sqlalchemy as sa

    from mlmonitor.profile import numeric_profile

    engine = sa.create_engine(f"sqlite:///{tmp_path}/big.db")
    table = sa.Table("t", sa.MetaData(), sa.Column("x", Double))
    table.create(engine)
    with engine.begin() as conn:
        conn.execute(table.insert(), [{"x": 1e9 + 1}, {"x": 1e9 + 2}, {"x": 1e9 + 3}])
    # population variance of (1, 2, 3) = ((-1)^2 + 0 + 1^2) / 3 = 2/3
    assert math.isclose(numeric_profile(engine, table.c.x).std, math.sqrt(2 / 3), rel_tol=1e-6)


def test_window_counts_one_query_matches_the_group_by_counts(db: tuple[Engine, sa.Table]) -> None:
    engine, t = db
    statements: list[str] = []
    sa.event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    total, counts = prof.window_counts(engine, t, {"x": [3.0, 7.5]}, {"cat": ["a", "b"]})
    assert len(statements) == 1, "one aggregate query for every column"
    assert total == 12
    # x = 1..10 + 2 NULLs: x < 3 -> 2; 3 <= x < 7.5 -> 3, 4, 5, 6, 7; x >= 7.5 -> 8, 9, 10
    assert counts["x"] == prof.ColumnCounts([2, 5, 3], 2)
    assert (counts["x"].counts, counts["x"].nulls) == prof.bin_counts(engine, t.c.x, [3.0, 7.5])
    # cat: a x3, b x3, other (c c d e) x4, NULL x2
    assert counts["cat"] == prof.ColumnCounts([3, 3, 4], 2)
    assert counts["cat"].total == 12


def test_window_counts_carry_the_exact_mean_in_the_same_query(engine: Engine) -> None:
    """The exact mean of each numeric column comes from the counts' own query, in every form the
    warehouse can run; a column with no value has none."""
    caps = capabilities(engine.dialect)
    md = sa.MetaData()
    t = sa.Table("m", md, sa.Column("x", Double), sa.Column("i", sa.Integer), sa.Column("e", Double))
    md.create_all(engine)
    rows = [{"x": 0.25, "i": 1}, {"x": 0.5, "i": 2}, {"x": 2.0, "i": None}, {"x": None, "i": 4}]
    with engine.begin() as conn:
        conn.execute(t.insert(), rows)
    forms = [
        f for f, able in {"packed": caps.packed_counts, "filter": caps.aggregate_filter, "case": True}.items() if able
    ]
    statements: list[str] = []
    sa.event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    for form in forms:
        statements.clear()
        _, got = prof.window_counts(engine, t, {"x": [1.0], "i": [3.0], "e": [0.0]}, {}, form=form)
        assert len(statements) == 1, form
        assert got["x"].mean == pytest.approx(2.75 / 3), form
        assert got["i"].mean == pytest.approx(7 / 3), form
        assert got["e"].mean is None and got["e"].nulls == 4, form


def test_window_counts_respect_the_window(db: tuple[Engine, sa.Table]) -> None:
    engine, t = db
    window = Window(T0.replace(tzinfo=dt.UTC), (T0 + dt.timedelta(hours=4)).replace(tzinfo=dt.UTC))
    total, counts = prof.window_counts(engine, t, {"x": [2.0]}, {"cat": ["b"]}, window_filter(t.c.ts, window))
    assert total == 4  # ids 1..4: x 1..4, cat b a c b
    assert counts["x"] == prof.ColumnCounts([1, 3], 0)
    assert counts["cat"] == prof.ColumnCounts([2, 2], 0)


def test_bin_stats_means_per_bin(db: tuple[Engine, sa.Table]) -> None:
    engine, t = db
    counts, means, nulls = prof.bin_stats(engine, t.c.x, [3.0, 7.5])
    assert (counts, nulls) == ([2, 5, 3], 2)
    assert means == pytest.approx([1.5, 5.0, 9.0])


def test_window_counts_on_edges_nulls_infinities_and_integers(engine: Engine) -> None:
    """Every query form the warehouse can run (packed sums on PostgreSQL, FILTER counts on PostgreSQL
    and SQLite, CASE counts everywhere) agrees with the GROUP BY of the baseline: a value equal to an
    edge goes up, NULLs are counted apart, +-inf counted with them (the largest doubles, where
    infinity cannot be stored, in the tails)."""
    caps = capabilities(engine.dialect)
    big = math.inf if caps.stores_infinity else sys.float_info.max
    md = sa.MetaData()
    t = sa.Table("w", md, sa.Column("f", Double), sa.Column("i", sa.BigInteger), sa.Column("c", sa.String(8)))
    md.create_all(engine)
    f = [-big, -1.0, 0.0, 0.0, 0.5, 1.0, 2.0, 2.5, big, None, None, 7.0]
    i = [1, 2, 2, 3, 3, 3, None, 4, 5, 10**15, 0, -4]
    c = ["a", "a", "b", None, "z", "b", "a", "", "c", "c", None, "a"]
    with engine.begin() as conn:
        conn.execute(t.insert(), [{"f": x, "i": y, "c": z} for x, y, z in zip(f, i, c, strict=True)])
    numeric = {"f": [0.0, 1.0, 2.5], "i": [2.0, 3.0, 3.5], "none": []}
    t.append_column(sa.Column("none", Double))  # a column with no edges: every value in one bin
    with engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE w ADD COLUMN none FLOAT")
    categorical = {"c": ["a", "b", ""], "no_values": []}
    t.append_column(sa.Column("no_values", sa.String(8)))
    with engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE w ADD COLUMN no_values VARCHAR(8)")
        conn.execute(t.update().where(t.c.f < 0).values(no_values="q"))
    total, got = prof.window_counts(engine, t, numeric, categorical)
    assert total == 12
    # f < 0: -inf, -1 | 0 <= f < 1: 0, 0, 0.5 | 1 <= f < 2.5: 1, 2 | f >= 2.5: 2.5, inf, 7 | NULL x2
    if caps.stores_infinity:  # -inf and inf are not finite: left out of the bins, counted with the NULLs
        assert got["f"] == prof.ColumnCounts([1, 3, 2, 2], 4)
    else:
        assert got["f"] == prof.ColumnCounts([2, 3, 2, 3], 2)
    # i < 2: 1, 0, -4 | 2 <= i < 3: 2, 2 | 3 <= i < 3.5: 3, 3, 3 | i >= 3.5: 4, 5, 10**15 | NULL x1
    assert got["i"] == prof.ColumnCounts([3, 2, 3, 3], 1)
    assert got["none"] == prof.ColumnCounts([0], 12)
    # a x4, b x2, '' x1, other (z, c, c) x3, NULL x2
    assert got["c"] == prof.ColumnCounts([4, 2, 1, 3], 2)
    assert got["no_values"] == prof.ColumnCounts([2], 10)
    for name, edges in numeric.items():
        counts, _ = prof.bin_counts(engine, t.c[name], edges, prof.finite(t.c[name]))
        assert got[name].counts == counts  # as the baseline counts them: finite values only
    forms = {"packed": caps.packed_counts, "filter": caps.aggregate_filter, "case": True}
    assert [form for form, able in forms.items() if able] == {
        "postgresql": ["packed", "filter", "case"],
        "sqlite": ["filter", "case"],
        "mysql": ["case"],
    }[engine.dialect.name]
    for form, able in forms.items():
        if able:
            assert prof.window_counts(engine, t, numeric, categorical, form=form) == (total, got), form
