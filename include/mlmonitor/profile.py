"""Column statistics computed in the warehouse with SQL aggregates; no raw rows leave the database.

The same functions profile the training table (for the baseline) and each serving window (for
drift and statistics), so both sides are counted the same way.
"""

from __future__ import annotations

import functools
import itertools
import math
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from mlmonitor.dialect import as_float, capabilities, exact_text

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
    non_finite: int = 0  # NaN and +-infinity: counted, kept out of every statistic above

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


def finite(col: sa.ColumnElement[Any]) -> sa.ColumnElement[bool]:
    """The value is a finite number: between -DBL_MAX and DBL_MAX, which +-infinity are not and a NaN
    (PostgreSQL sorts it above every number) is not either. Portable: no dialect has to bind an
    infinity (MariaDB cannot) and NULL stays NULL."""
    largest = sys.float_info.max
    return as_float(col).between(sa.literal(-largest, sa.Double()), sa.literal(largest, sa.Double()))


def numeric_profile(
    engine: Engine, col: sa.Column[object], where: Where = None, points: Sequence[float] = QUANTILES
) -> NumericProfile:
    """count, nulls, min, max, mean, std (population) and the quantiles at `points` of a numeric column:
    three statements whatever the number of points (aggregates, the variance, the quantiles).
    Non-finite values (NaN, +-infinity) are counted in `non_finite` and left out of the statistics."""
    x = sa.case((finite(col), as_float(col)))  # NULL unless a finite number
    exprs = [sa.func.count(), sa.func.count(col), sa.func.count(x), sa.func.min(x), sa.func.max(x), sa.func.avg(x)]
    with engine.connect() as conn:
        total, present, numbers, lo, hi, mean = conn.execute(_select(exprs, col.table, where)).one()
        std = None
        if numbers:
            # second pass around the mean: E[x^2] - E[x]^2 cancels catastrophically for large values
            dev = x - sa.literal(float(mean), sa.Double())
            var = conn.execute(_select([sa.func.avg(dev * dev)], col.table, where)).scalar_one()
            std = math.sqrt(max(float(var), 0.0))
    in_range = sa.and_(finite(col), where) if where is not None else finite(col)
    qs = quantiles(engine, col, in_range, points, present=int(numbers)) if numbers else {}
    return NumericProfile(
        count=int(total),
        nulls=int(total) - int(present),
        min=_f(lo),
        max=_f(hi),
        mean=_f(mean),
        std=std,
        quantiles={f"{p:g}": v for p, v in qs.items()},
        non_finite=int(present) - int(numbers),
    )


def _f(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]


def quantiles(
    engine: Engine, col: sa.Column[object], where: Where, points: Sequence[float], present: int | None = None
) -> dict[float, float]:
    """Discrete quantiles (the first value whose cumulative share reaches p), as percentile_disc, in
    ONE statement and one sort of the column whatever the number of points: percentile_disc
    aggregates where the dialect has them, elsewhere the values at the points' ranks of one
    row_number() ordering. `present` (the non-NULL count, when the caller has it) saves a count."""
    x = as_float(col)
    not_null = sa.and_(col.isnot(None), where) if where is not None else col.isnot(None)
    with engine.connect() as conn:
        if capabilities(engine.dialect).ordered_set_quantiles:
            exprs = [sa.func.percentile_disc(p).within_group(x) for p in points]
            row = conn.execute(_select(exprs, col.table, not_null)).one()
            return {} if row[0] is None else {p: float(v) for p, v in zip(points, row, strict=True)}
        if present is None:
            present = int(conn.execute(_select([sa.func.count()], col.table, not_null)).scalar_one())
        if not present:
            return {}
        ordered = _select(
            [
                x.label("q_value"),
                sa.func.row_number().over(order_by=x).label("q_rank"),
                sa.func.count().over().label("q_n"),
            ],
            col.table,
            not_null,
        ).subquery("ordered")
        # the rank of p among n values: ceil(p * n) in double precision, as percentile_disc computes it
        ranks = {p: max(math.ceil(p * present), 1) for p in points}
        wanted = ordered.c.q_rank.in_(sorted(set(ranks.values())))
        rows = conn.execute(sa.select(ordered.c.q_rank, ordered.c.q_value, ordered.c.q_n).where(wanted)).all()
    seen = {int(n) for _, _, n in rows}
    if seen != {present}:
        # rows arrived or left since the count: rank again with the count the ordering saw
        return quantiles(engine, col, where, points, present=seen.pop() if len(seen) == 1 else None)
    values = {int(rank): float(v) for rank, v, _ in rows}
    return {p: values[r] for p, r in ranks.items()}


def bin_edges(profile: NumericProfile, bins: int) -> list[float]:
    """Interior bin edges from training quantiles (tails open), deduplicated for discrete columns.
    A constant column gets the bin [c, next float above c) of its one value, so a window moving off
    it, upwards or downwards, moves mass out of that bin."""
    if profile.min is None:
        return []
    if profile.min == profile.max:
        return [profile.min, math.nextafter(profile.min, math.inf)]
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
    whens += [(as_float(col) < edge, i) for i, edge in enumerate(edges)]
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
    stmt = _select([idx, sa.func.count(), sa.func.avg(as_float(col))], col.table, where).group_by(idx)
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
    """Window counts of one column: per frozen bin (numeric) or per tracked value then other (categorical),
    and for a numeric column the exact mean of its finite values (None when it has none)."""

    counts: list[int]
    nulls: int
    mean: float | None = field(default=None, compare=False)

    @property
    def total(self) -> int:
        return sum(self.counts) + self.nulls


# Packed counts: bin i of a column adds FIELD**i to one exact NUMERIC sum, so every bin count is a
# 12-digit field of that sum (exact below 10**12 rows per window).
FIELD = 10**12
# One column's part of the window query: its aggregates, and how to read them back (given the
# iterator over the result row and the window's row count).
Decode = Callable[[Iterator[Any], int], ColumnCounts]


CountForm = Literal["packed", "filter", "case"]


def window_counts(
    engine: Engine,
    table: sa.Table,
    numeric: dict[str, Sequence[float]],
    categorical: dict[str, Sequence[str]],
    where: Where = None,
    form: CountForm | None = None,
) -> tuple[int, dict[str, ColumnCounts]]:
    """Rows, and per column its bin / category counts and nulls: ONE aggregate query, one pass over the
    window. The result is one row, so memory does not depend on the window size.

    The form follows the dialect's capabilities (`form` forces one, for tests and benchmarks):
    - `packed` (PostgreSQL): one exact `sum(numeric)` per column; a nested CASE picks the column's
      bin (numeric) or value (categorical) and adds its packed field. On PostgreSQL (10M rows x 20
      columns) that query takes 6.3-7.3 s where the FILTER form took 10.2-13.9 s.
    - `filter` (SQLite): cumulative counts `count(*) FILTER (WHERE x < edge)` per edge and
      `count(*) FILTER (WHERE x = value)` per value.
    - `case` (MariaDB/MySQL and any other dialect; their NUMERIC stops at 38-65 digits and they have
      no FILTER): the same counts as `count(CASE WHEN ... THEN 1 END)`.
    `count(x)` gives the NULLs in every form; `avg(x)` the exact mean of each numeric column (the
    drift check's exact-mean term: a shift inside a bin does not move the bin counts). A numeric
    column's NaN and infinite values are left out of its bins and mean and count with its NULLs."""
    exprs, decode = _count_parts(engine, table, numeric, categorical, form)
    with engine.connect() as conn:
        return decode(conn.execute(_select(exprs, table, where)).one())


def _count_parts(
    engine: Engine,
    table: sa.FromClause,
    numeric: dict[str, Sequence[float]],
    categorical: dict[str, Sequence[str]],
    form: CountForm | None,
) -> tuple[list[Any], Callable[[Sequence[Any]], tuple[int, dict[str, ColumnCounts]]]]:
    """The aggregates of `window_counts` over `table` (row count first), and how to read one result row."""
    if form is None:
        caps = capabilities(engine.dialect)
        form = "packed" if caps.packed_counts else "filter" if caps.aggregate_filter else "case"
    if form == "packed":
        numeric_part, categorical_part = _packed_bins, _packed_values
    else:
        count = _FILTERED if form == "filter" else _CASE
        numeric_part = functools.partial(_counted_bins, count=count)
        categorical_part = functools.partial(_counted_values, count=count)
    cols: Any = table.c
    count_where = _FILTERED if form == "filter" else _CASE
    parts = {
        name: _with_mean(numeric_part(cols[name], edges), cols[name], count_where) for name, edges in numeric.items()
    }
    parts |= {name: categorical_part(cols[name], values) for name, values in categorical.items()}
    exprs: list[Any] = [sa.func.count()]
    for aggregates, _ in parts.values():
        exprs += aggregates

    def decode(result: Sequence[Any]) -> tuple[int, dict[str, ColumnCounts]]:
        row = iter(result)
        total = int(next(row))
        return total, {name: read(row, total) for name, (_, read) in parts.items()}

    return exprs, decode


def chunk_counts(
    engine: Engine,
    table: sa.Table,
    numeric: dict[str, Sequence[float]],
    categorical: dict[str, Sequence[str]],
    chunks: int,
    order_by: str | None = None,
) -> list[tuple[int, dict[str, ColumnCounts]]]:
    """`window_counts` of each of `chunks` consecutive, nearly equal chunks of the table (ntile over
    `order_by`, else the table's own order), in ONE statement: one pass, GROUP BY chunk. The
    reference's own spread of every statistic at a window's size, from which thresholds are learned."""
    over = sa.func.ntile(chunks).over(order_by=table.c[order_by] if order_by else None)
    names = [*numeric, *categorical]
    chunked = sa.select(*(table.c[n] for n in names), over.label("mlmonitor_chunk")).subquery("chunked")
    exprs, decode = _count_parts(engine, chunked, numeric, categorical, None)
    chunk = chunked.c.mlmonitor_chunk
    stmt = sa.select(chunk, *exprs).group_by(chunk).order_by(chunk)
    with engine.connect() as conn:
        return [(int(row[0]), decode(row[1:])[1]) for row in conn.execute(stmt)]


def _finite_only(col: sa.Column[object]) -> sa.ColumnElement[float]:
    """The column as a double, NULL where it is not a finite number."""
    return sa.case((finite(col), as_float(col)))


def _with_mean(part: tuple[list[Any], Decode], col: sa.Column[object], count: CountWhere) -> tuple[list[Any], Decode]:
    """A numeric column's counts, with its NaN and infinite values moved from the tail bins they fell
    in to the NULLs (as the baseline leaves them out), then the exact mean of its finite values, in
    the same query. Two counts per column rather than a finiteness test inside every edge's count: -inf
    fell in the first bin, +inf and NaN (compared false with every edge) in the last."""
    aggregates, decode_counts = part
    largest: sa.ColumnElement[float] = sa.literal(sys.float_info.max, sa.Double())
    x = as_float(col)

    def decode(row: Iterator[Any], total: int) -> ColumnCounts:
        c = decode_counts(row, total)
        below, within = int(next(row)), int(next(row))
        above = sum(c.counts) - within - below  # present, neither finite nor -inf: +inf and NaN
        counts = list(c.counts)
        counts[0] -= below
        counts[-1] -= above
        return ColumnCounts(counts, c.nulls + below + above, _f(next(row)))

    extra = [count(x < -largest), count(x.between(-largest, largest)), sa.func.avg(_finite_only(col))]
    return [*aggregates, *extra], decode


# the rows where a condition holds, as FILTER or as the CASE that every dialect accepts
CountWhere = Callable[[sa.ColumnElement[bool]], sa.ColumnElement[int]]
_FILTERED: CountWhere = lambda condition: sa.func.count().filter(condition)  # noqa: E731
_CASE: CountWhere = lambda condition: sa.func.count(sa.case((condition, 1)))  # noqa: E731


def _counted_bins(col: sa.Column[object], edges: Sequence[float], count: CountWhere) -> tuple[list[Any], Decode]:
    below = [count(col < sa.literal(float(e), sa.Double())) for e in edges]

    def decode(row: Iterator[Any], total: int) -> ColumnCounts:
        present = int(next(row))
        cumulative = [*(int(next(row)) for _ in edges), present]
        counts = [cumulative[0]] + [b - a for a, b in itertools.pairwise(cumulative)]
        return ColumnCounts(counts, total - present)

    return [sa.func.count(col), *below], decode


def _counted_values(col: sa.Column[object], values: Sequence[str], count: CountWhere) -> tuple[list[Any], Decode]:
    text = exact_text(col)
    hits = [count(text == sa.literal(v, sa.String)) for v in values]
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
    below = x < sa.literal(float(edges[mid]), sa.Double())
    return sa.case((below, _bin_search(x, edges, lo, mid)), else_=_bin_search(x, edges, mid + 1, hi))


def _fields(packed: object, n: int) -> list[int]:
    value = int(packed or 0)  # type: ignore[call-overload]
    out = []
    for _ in range(n):
        value, count = divmod(value, FIELD)
        out.append(count)
    return out


def _packed_bins(col: sa.Column[object], edges: Sequence[float]) -> tuple[list[Any], Decode]:
    bin_field = _bin_search(as_float(col), edges, 0, len(edges))

    def decode(row: Iterator[Any], total: int) -> ColumnCounts:
        present = int(next(row))
        counts = _fields(next(row), len(edges) + 1)
        counts[-1] -= total - present  # the NULLs went to the last bin
        return ColumnCounts(counts, total - present)

    return [sa.func.count(col), sa.func.sum(bin_field, type_=sa.Numeric())], decode


def _packed_values(col: sa.Column[object], values: Sequence[str]) -> tuple[list[Any], Decode]:
    if not values:  # nothing tracked: every present value is `other`
        return [sa.func.count(col)], _value_decoder(lambda row: [])
    pick = sa.case({v: _field(i) for i, v in enumerate(values)}, value=exact_text(col))
    read = _value_decoder(lambda row: _fields(next(row), len(values)))
    return [sa.func.count(col), sa.func.sum(pick, type_=sa.Numeric())], read


def categorical_profile(engine: Engine, col: sa.Column[object], top_k: int, where: Where = None) -> CategoricalProfile:
    """Top-K value frequencies (ties broken by value, so the result is stable), other and null counts."""
    value = exact_text(col).label("value")
    n = sa.func.count().label("n")
    top_stmt = _select([value, n], col.table, where).where(col.isnot(None)).group_by(value)
    top_stmt = top_stmt.order_by(n.desc(), value).limit(top_k)
    totals = [sa.func.count(), sa.func.count(col), sa.func.count(sa.distinct(exact_text(col)))]
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


def value_set(engine: Engine, col: sa.Column[object], where: Where = None) -> tuple[list[str], int]:
    """Every distinct non-null value (sorted) and how many of them occur exactly once."""
    value = exact_text(col).label("value")
    stmt = _select([value, sa.func.count()], col.table, where).where(col.isnot(None)).group_by(value).order_by(value)
    with engine.connect() as conn:
        rows = [(str(v), int(c)) for v, c in conn.execute(stmt)]
    return [v for v, _ in rows], sum(c == 1 for _, c in rows)


def category_counts(
    engine: Engine, col: sa.Column[object], values: Sequence[str], where: Where = None
) -> tuple[dict[str, int], int, int]:
    """Counts of each known value, of all other values and of NULLs, in one GROUP BY."""
    text = exact_text(col)
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
    text = exact_text(col).label("value")
    n = sa.func.count().label("n")
    stmt = _select([text, n], col.table, where).where(col.isnot(None), text.not_in(list(values)))
    stmt = stmt.group_by(text).order_by(n.desc(), text).limit(limit)
    with engine.connect() as conn:
        return [(str(v), int(c)) for v, c in conn.execute(stmt)]
