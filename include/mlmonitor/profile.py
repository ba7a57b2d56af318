"""Column statistics computed in the warehouse with SQL aggregates; no raw rows leave the database.

The same functions profile the training table (for the baseline) and each serving window (for
drift and statistics), so both sides are counted the same way.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

QUANTILES = (0.001, 0.01, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 0.999)
OTHER = "__other__"
Where = sa.ColumnElement[bool] | None


@dataclass(frozen=True)
class NumericProfile:
    count: int
    nulls: int
    min: float | None
    max: float | None
    mean: float | None
    std: float | None
    quantiles: dict[str, float]

    @property
    def null_rate(self) -> float:
        return self.nulls / self.count if self.count else 0.0


@dataclass(frozen=True)
class CategoricalProfile:
    count: int
    nulls: int
    distinct: int
    top: dict[str, int]
    other: int

    @property
    def null_rate(self) -> float:
        return self.nulls / self.count if self.count else 0.0


def _select(exprs: Sequence[Any], table: sa.FromClause, where: Where) -> sa.Select[Any]:
    stmt = sa.select(*exprs).select_from(table)
    return stmt.where(where) if where is not None else stmt


def row_count(engine: Engine, table: sa.Table, where: Where = None) -> int:
    with engine.connect() as conn:
        return int(conn.execute(_select([sa.func.count()], table, where)).scalar_one())


def numeric_profile(
    engine: Engine, col: sa.Column[object], where: Where = None, points: Sequence[float] = QUANTILES
) -> NumericProfile:
    """count, nulls, min, max, mean, std (population) and the quantiles at `points` of a numeric column."""
    x = sa.cast(col, sa.Float)
    exprs = [sa.func.count(), sa.func.count(col), sa.func.min(x), sa.func.max(x), sa.func.avg(x)]
    with engine.connect() as conn:
        total, present, lo, hi, mean = conn.execute(_select(exprs, col.table, where)).one()
        std = None
        if present:
            # second pass around the mean: E[x^2] - E[x]^2 cancels catastrophically for large values
            dev = x - sa.literal(float(mean), sa.Float)
            var = conn.execute(_select([sa.func.avg(dev * dev)], col.table, where)).scalar_one()
            std = math.sqrt(max(float(var), 0.0))
    qs = quantiles(engine, col, where, points) if present else {}
    return NumericProfile(
        count=int(total),
        nulls=int(total) - int(present),
        min=_f(lo),
        max=_f(hi),
        mean=_f(mean),
        std=std,
        quantiles={f"{p:g}": v for p, v in qs.items()},
    )


def _f(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]


def quantiles(engine: Engine, col: sa.Column[object], where: Where, points: Sequence[float]) -> dict[float, float]:
    """Discrete quantiles (the first value whose cumulative share reaches p), as percentile_disc."""
    x = sa.cast(col, sa.Float)
    not_null = sa.and_(col.isnot(None), where) if where is not None else col.isnot(None)
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            exprs = [sa.func.percentile_disc(p).within_group(x) for p in points]
            row = conn.execute(_select(exprs, col.table, not_null)).one()
            return {p: float(v) for p, v in zip(points, row, strict=True)}
        n = int(conn.execute(_select([sa.func.count()], col.table, not_null)).scalar_one())
        out: dict[float, float] = {}
        for p in points:
            offset = max(math.ceil(p * n) - 1, 0)
            stmt = _select([x], col.table, not_null).order_by(x).limit(1).offset(offset)
            out[p] = float(conn.execute(stmt).scalar_one())
        return out


def bin_edges(profile: NumericProfile, bins: int) -> list[float]:
    """Interior bin edges from training quantiles (tails open), deduplicated for discrete columns."""
    if profile.min is None:
        return []
    points = [i / bins for i in range(1, bins)]
    qs = profile.quantiles
    keys = sorted(qs, key=float)
    edges: list[float] = []
    for p in points:
        # nearest stored quantile at or above p
        key = next((k for k in keys if float(k) >= p - 1e-9), keys[-1])
        edges.append(qs[key])
    return sorted(set(edges))


def bin_index(col: sa.Column[object], edges: Sequence[float]) -> sa.ColumnElement[int]:
    """0 .. len(edges) for values (bin i holds edges[i-1] <= x < edges[i]); -1 for NULL."""
    whens: list[tuple[sa.ColumnElement[bool], int]] = [(col.is_(None), -1)]
    whens += [(sa.cast(col, sa.Float) < edge, i) for i, edge in enumerate(edges)]
    return sa.case(*whens, else_=len(edges))


def bin_counts(
    engine: Engine, col: sa.Column[object], edges: Sequence[float], where: Where = None
) -> tuple[list[int], int]:
    """Counts per bin (len(edges) + 1 of them) and the null count, in one GROUP BY."""
    counts, _, nulls = bin_stats(engine, col, edges, where)
    return counts, nulls


def bin_stats(
    engine: Engine, col: sa.Column[object], edges: Sequence[float], where: Where = None
) -> tuple[list[int], list[float | None], int]:
    """Counts and means per bin (None for an empty bin) and the null count, in one GROUP BY."""
    idx = bin_index(col, edges).label("bin")
    stmt = _select([idx, sa.func.count(), sa.func.avg(sa.cast(col, sa.Float))], col.table, where).group_by(idx)
    counts = [0] * (len(edges) + 1)
    means: list[float | None] = [None] * (len(edges) + 1)
    nulls = 0
    with engine.connect() as conn:
        for b, n, mean in conn.execute(stmt):
            if b == -1:
                nulls = int(n)
            else:
                counts[int(b)] = int(n)
                means[int(b)] = _f(mean)
    return counts, means, nulls


@dataclass(frozen=True)
class ColumnCounts:
    """Window counts of one column: per frozen bin (numeric) or per tracked value then other (categorical)."""

    counts: list[int]
    nulls: int

    @property
    def total(self) -> int:
        return sum(self.counts) + self.nulls


def _text(col: sa.Column[object]) -> sa.ColumnElement[Any]:
    return col if isinstance(col.type, sa.String) else sa.cast(col, sa.String)


# Packed counts: bin i of a column adds FIELD**i to one exact NUMERIC sum, so every bin count is a
# 12-digit field of that sum (exact below 10**12 rows per window).
FIELD = 10**12
# One column's part of the window query: its aggregates, and how to read them back (given the
# iterator over the result row and the window's row count).
Decode = Callable[[Iterator[Any], int], ColumnCounts]


def window_counts(
    engine: Engine,
    table: sa.Table,
    numeric: dict[str, Sequence[float]],
    categorical: dict[str, Sequence[str]],
    where: Where = None,
    packed: bool | None = None,
) -> tuple[int, dict[str, ColumnCounts]]:
    """Rows, and per column its bin / category counts and nulls: ONE aggregate query, one pass over the
    window. The result is one row, so memory does not depend on the window size.

    `packed` (the default on PostgreSQL): one exact `sum(numeric)` per column; a nested CASE picks
    the column's bin (numeric) or value (categorical) and adds its packed field. On PostgreSQL
    (10M rows x 20 columns) that query takes 6.3-7.3 s where the FILTER form took 10.2-13.9 s.
    Otherwise (SQLite, and warehouses whose NUMERIC stops at 38 digits): cumulative counts
    `count(*) FILTER (WHERE x < edge)` per edge and `count(*) FILTER (WHERE x = value)` per value.
    `count(x)` gives the NULLs either way."""
    if packed is None:
        packed = engine.dialect.name == "postgresql"
    numeric_part, categorical_part = (_packed_bins, _packed_values) if packed else (_filtered_bins, _filtered_values)
    parts = {name: numeric_part(table.c[name], edges) for name, edges in numeric.items()}
    parts |= {name: categorical_part(table.c[name], values) for name, values in categorical.items()}
    exprs: list[Any] = [sa.func.count()]
    for aggregates, _ in parts.values():
        exprs += aggregates
    with engine.connect() as conn:
        row = iter(conn.execute(_select(exprs, table, where)).one())
    total = int(next(row))
    return total, {name: decode(row, total) for name, (_, decode) in parts.items()}


def _filtered_bins(col: sa.Column[object], edges: Sequence[float]) -> tuple[list[Any], Decode]:
    below = [sa.func.count().filter(col < sa.literal(float(e), sa.Float)) for e in edges]

    def decode(row: Iterator[Any], total: int) -> ColumnCounts:
        present = int(next(row))
        cumulative = [*(int(next(row)) for _ in edges), present]
        counts = [cumulative[0]] + [b - a for a, b in itertools.pairwise(cumulative)]
        return ColumnCounts(counts, total - present)

    return [sa.func.count(col), *below], decode


def _filtered_values(col: sa.Column[object], values: Sequence[str]) -> tuple[list[Any], Decode]:
    text = _text(col)
    hits = [sa.func.count().filter(text == sa.literal(v, sa.String)) for v in values]
    return [sa.func.count(col), *hits], _value_decoder(lambda row: [int(next(row)) for _ in values])


def _value_decoder(read_hits: Callable[[Iterator[Any]], list[int]]) -> Decode:
    """Tracked values' counts, then `other` = present minus them; NULLs = rows minus present."""

    def decode(row: Iterator[Any], total: int) -> ColumnCounts:
        present = int(next(row))
        hits = read_hits(row)
        return ColumnCounts([*hits, present - sum(hits)], total - present)

    return decode


def _field(i: int) -> sa.ColumnElement[Any]:
    return sa.literal(Decimal(FIELD**i), sa.Numeric())


def _bin_search(x: sa.ColumnElement[Any], edges: Sequence[float], lo: int, hi: int) -> sa.ColumnElement[Any]:
    """FIELD**bin of x for bins lo..hi, as a binary search of nested CASEs (about log2(bins)
    comparisons per row). A NULL (or NaN) compares false everywhere and lands in the last bin."""
    if lo == hi:
        return _field(lo)
    mid = (lo + hi) // 2
    below = x < sa.literal(float(edges[mid]), sa.Float)
    return sa.case((below, _bin_search(x, edges, lo, mid)), else_=_bin_search(x, edges, mid + 1, hi))


def _fields(packed: object, n: int) -> list[int]:
    value = int(packed or 0)  # type: ignore[call-overload]
    out = []
    for _ in range(n):
        value, count = divmod(value, FIELD)
        out.append(count)
    return out


def _packed_bins(col: sa.Column[object], edges: Sequence[float]) -> tuple[list[Any], Decode]:
    bin_field = _bin_search(sa.cast(col, sa.Float), edges, 0, len(edges))

    def decode(row: Iterator[Any], total: int) -> ColumnCounts:
        present = int(next(row))
        counts = _fields(next(row), len(edges) + 1)
        counts[-1] -= total - present  # the NULLs went to the last bin
        return ColumnCounts(counts, total - present)

    return [sa.func.count(col), sa.func.sum(bin_field, type_=sa.Numeric())], decode


def _packed_values(col: sa.Column[object], values: Sequence[str]) -> tuple[list[Any], Decode]:
    if not values:  # nothing tracked: every present value is `other`
        return [sa.func.count(col)], _value_decoder(lambda row: [])
    pick = sa.case({v: _field(i) for i, v in enumerate(values)}, value=_text(col))
    read = _value_decoder(lambda row: _fields(next(row), len(values)))
    return [sa.func.count(col), sa.func.sum(pick, type_=sa.Numeric())], read


def categorical_profile(engine: Engine, col: sa.Column[object], top_k: int, where: Where = None) -> CategoricalProfile:
    """Top-K value frequencies (ties broken by value, so the result is stable), other and null counts."""
    value = sa.cast(col, sa.String).label("value")
    n = sa.func.count().label("n")
    top_stmt = _select([value, n], col.table, where).where(col.isnot(None)).group_by(value)
    top_stmt = top_stmt.order_by(n.desc(), value).limit(top_k)
    totals = [sa.func.count(), sa.func.count(col), sa.func.count(sa.distinct(col))]
    with engine.connect() as conn:
        top = {str(v): int(c) for v, c in conn.execute(top_stmt)}
        total, present, distinct = conn.execute(_select(totals, col.table, where)).one()
    return CategoricalProfile(
        count=int(total),
        nulls=int(total) - int(present),
        distinct=int(distinct),
        top=top,
        other=int(present) - sum(top.values()),
    )


def category_counts(
    engine: Engine, col: sa.Column[object], values: Sequence[str], where: Where = None
) -> tuple[dict[str, int], int, int]:
    """Counts of each known value, of all other values and of NULLs, in one GROUP BY."""
    text = sa.cast(col, sa.String)
    bucket = sa.case((col.is_(None), None), (text.in_(list(values)), text), else_=sa.literal(OTHER)).label("b")
    stmt = _select([bucket, sa.func.count()], col.table, where).group_by(bucket)
    counts = dict.fromkeys(values, 0)
    other = nulls = 0
    with engine.connect() as conn:
        for b, n in conn.execute(stmt):
            if b is None:
                nulls = int(n)
            elif b == OTHER and OTHER not in counts:
                other = int(n)
            else:
                counts[str(b)] = int(n)
    return counts, other, nulls


def unseen_values(
    engine: Engine, col: sa.Column[object], values: Sequence[str], where: Where = None, limit: int = 10
) -> list[tuple[str, int]]:
    """The most frequent values not among `values` (at most `limit`), to name them in alerts."""
    text = sa.cast(col, sa.String).label("value")
    n = sa.func.count().label("n")
    stmt = _select([text, n], col.table, where).where(col.isnot(None), text.not_in(list(values)))
    stmt = stmt.group_by(text).order_by(n.desc(), text).limit(limit)
    with engine.connect() as conn:
        return [(str(v), int(c)) for v, c in conn.execute(stmt)]
