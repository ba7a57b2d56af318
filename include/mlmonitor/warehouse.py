"""Warehouse access: reflected, validated tables and columns, and window predicates.

Names from YAML never reach SQL as raw text: every table and column is looked up in the
reflected schema and used as a SQLAlchemy object, which the dialect quotes. Window bounds are
bound parameters.
"""

from __future__ import annotations

import datetime as dt
import importlib
import inspect
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from mlmonitor.config import ModelConfig
from mlmonitor.dialect import for_great_expectations, is_transient
from mlmonitor.errors import WarehouseError, WarehouseUnavailable
from mlmonitor.window import Window, utc_naive

_NUMERIC = (sa.Integer, sa.Float, sa.Numeric)
_CATEGORICAL = (sa.String, sa.Text, sa.Boolean, sa.Enum)
Family = str  # "numeric" | "string" | "boolean" | "datetime" | "other"


def reflect_table(engine: Engine, name: str, purpose: str) -> sa.Table:
    """Reflect `name` (optionally `schema.table`); a missing table raises a WarehouseError naming it."""
    schema, _, table = name.rpartition(".")
    try:
        return sa.Table(table, sa.MetaData(), schema=schema or None, autoload_with=engine)
    except sa.exc.NoSuchTableError:
        raise WarehouseError(
            f"{purpose} table {name!r} does not exist in the warehouse {engine.url.render_as_string()}; "
            f"fix the table name in the model YAML or load the table"
        ) from None
    except sa.exc.OperationalError as exc:
        raise WarehouseUnavailable(f"cannot reach the warehouse {engine.url.render_as_string()}: {exc.orig}") from None


def column(table: sa.Table, name: str, purpose: str) -> sa.Column[object]:
    """The reflected column `name` of `table`; a missing one raises a WarehouseError that lists the real ones."""
    if name not in table.c:
        raise WarehouseError(
            f"{purpose} column {name!r} does not exist in table {table.fullname!r} "
            f"(its columns: {', '.join(table.c.keys())}); fix the column name in the model YAML"
        )
    return table.c[name]


def is_numeric(col: sa.Column[object]) -> bool:
    return isinstance(col.type, _NUMERIC) and not isinstance(col.type, sa.Boolean)


def type_family(col: sa.Column[object]) -> Family:
    """The kind of a column's type, for comparing training, serving and expected schemas."""
    t = col.type
    if isinstance(t, sa.Boolean):
        return "boolean"
    if is_numeric(col):
        return "numeric"
    if isinstance(t, (sa.String, sa.Enum)):
        return "string"
    if isinstance(t, (sa.DateTime, sa.Date)):
        return "datetime"
    return "other"


@dataclass(frozen=True)
class ModelTables:
    """The model's tables with every configured column checked against the reflected schema."""

    training: sa.Table
    serving: sa.Table
    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    # Features whose serving column is missing or has another type than in training, with why.
    schema_issues: dict[str, str] = field(default_factory=dict)

    @property
    def features(self) -> tuple[str, ...]:
        return self.numeric + self.categorical

    def servable(self) -> ModelTables:
        """The same tables restricted to the features a window can be measured on.

        A feature missing from the serving table, or arriving with another type, is reported by
        validation (`expect_column_to_exist` / `expect_column_values_to_be_in_type_list`) and left
        out of window statistics, so the run still completes and alerts instead of crashing.
        """
        if not self.schema_issues:
            return self
        keep = [c for c in self.features if c not in self.schema_issues]
        return replace(
            self,
            numeric=tuple(c for c in self.numeric if c in keep),
            categorical=tuple(c for c in self.categorical if c in keep),
        )

    def ts(self, model: ModelConfig) -> sa.Column[object]:
        return self.serving.c[model.serving.timestamp_column]


def resolve_tables(model: ModelConfig, engine: Engine) -> ModelTables:
    """Reflect the training and serving tables, check every configured column, infer features."""
    training = reflect_table(engine, model.training.table, f"{model.name}: training")
    serving = reflect_table(engine, model.serving.table, f"{model.name}: serving")
    s = model.serving
    for name in (
        s.timestamp_column,
        s.id_column,
        s.model_version_column,
        s.latency_column,
        s.status_column,
        model.prediction.class_column,
    ):
        if name:
            column(serving, name, f"{model.name}: serving")
    column(serving, model.prediction.column, f"{model.name}: prediction")
    column(training, model.prediction.column, f"{model.name}: prediction (training scores)")
    numeric, categorical = _features(model, training)
    for name in numeric:
        if not is_numeric(column(training, name, f"{model.name}: feature")):
            raise WarehouseError(
                f"{model.name}: feature {name!r} is listed as numeric but is {training.c[name].type} in "
                f"{training.fullname!r}; move it to features.categorical"
            )
    _same_kind(model, model.prediction.column, training, serving)
    return ModelTables(
        training, serving, numeric, categorical, _schema_issues(training, serving, numeric + categorical)
    )


def _schema_issues(training: sa.Table, serving: sa.Table, features: tuple[str, ...]) -> dict[str, str]:
    issues: dict[str, str] = {}
    for name in features:
        if name not in serving.c:
            issues[name] = f"missing from serving table {serving.fullname!r}"
        elif type_family(serving.c[name]) != type_family(training.c[name]):
            issues[name] = (
                f"is {serving.c[name].type} in serving table {serving.fullname!r} but "
                f"{training.c[name].type} in training table {training.fullname!r}"
            )
    return issues


def _same_kind(model: ModelConfig, name: str, training: sa.Table, serving: sa.Table) -> None:
    """The prediction must be numeric in serving when it is in training: its statistics cast it to a
    number, and text would fail in the warehouse (PostgreSQL) or silently read as 0 (SQLite).
    (Features with a schema change are left out of the statistics instead; validation names them.)"""
    if is_numeric(training.c[name]) and not is_numeric(serving.c[name]):
        raise WarehouseError(
            f"{model.name}: prediction column {name!r} is numeric in training ({training.c[name].type}) but "
            f"{serving.c[name].type} in {serving.fullname!r}; fix the upstream schema (or cast the column "
            f"in a view and point serving.table at it)"
        )


def _features(model: ModelConfig, training: sa.Table) -> tuple[tuple[str, ...], tuple[str, ...]]:
    listed = model.features
    if listed.numeric or listed.categorical:
        for name in listed.numeric + listed.categorical:
            column(training, name, f"{model.name}: feature")
        return listed.numeric, listed.categorical
    reserved = model.reserved_columns()
    numeric = tuple(c.name for c in training.c if c.name not in reserved and is_numeric(c))
    categorical = tuple(c.name for c in training.c if c.name not in reserved and isinstance(c.type, _CATEGORICAL))
    if not numeric and not categorical:
        raise WarehouseError(
            f"{model.name}: no feature columns found in {training.fullname!r}; list them under features:"
        )
    return numeric, categorical


def column_types(table: sa.Table, dialect: sa.Dialect) -> dict[str, str]:
    """Column name -> type as the warehouse spells it (from the reflected table): the table's schema."""
    return {c.name: c.type.compile(dialect=dialect) for c in table.columns}


def bound(col: sa.Column[object], instant: dt.datetime) -> dt.datetime:
    """A window bound in the form the column stores: naive UTC unless the column is timezone-aware."""
    aware = bool(getattr(col.type, "timezone", False))
    return instant if aware else utc_naive(instant)


def window_filter(ts: sa.Column[object], window: Window) -> sa.ColumnElement[bool]:
    """`start <= ts < end` with bound parameters."""
    return sa.and_(ts >= bound(ts, window.start), ts < bound(ts, window.end))


# Type names GE accepts for each family. GE compares type *strings* on these dialects and
# resolves names to SQLAlchemy classes of the dialect module (isinstance) everywhere else.
_STRING_DIALECTS = frozenset({"postgresql", "snowflake", "mssql", "databricks", "trino"})
_FAMILY_NAMES: dict[str, tuple[str, ...]] = {
    "numeric": ("SMALLINT", "INTEGER", "BIGINT", "REAL", "FLOAT", "DOUBLE", "DOUBLE PRECISION", "NUMERIC", "DECIMAL"),
    "string": ("VARCHAR", "CHARACTER VARYING", "TEXT", "CHAR", "NVARCHAR", "STRING"),
    "boolean": ("BOOLEAN",),
    "datetime": ("TIMESTAMP", "TIMESTAMP WITHOUT TIME ZONE", "TIMESTAMP WITH TIME ZONE", "DATETIME", "DATE"),
}


def expected_types(engine: Engine, col: sa.Column[object]) -> list[str] | None:
    """The `type_list` of an `expect_column_values_to_be_in_type_list` that accepts every type of
    `col`'s family (an INTEGER column may become BIGINT; a numeric column may not become text)
    on this warehouse, or None when GE could not recognise the column's own type here."""
    family = type_family(col)
    names = list(_FAMILY_NAMES.get(family, ()))
    dialect = for_great_expectations(engine.url).get_backend_name()  # the name GE goes by
    if dialect in _STRING_DIALECTS:
        own = col.type.compile(dialect=engine.dialect)
        return sorted({*names, own}) if names or own else None
    try:
        module = importlib.import_module(f"sqlalchemy.dialects.{dialect}")
    except ImportError:
        return None
    classes = {n: getattr(module, n, None) for n in names}
    known = sorted(n for n, c in classes.items() if inspect.isclass(c))
    if not any(isinstance(col.type, classes[n]) for n in known):  # type: ignore[arg-type]
        return None
    return known


@contextmanager
def unavailable_as_error(engine: Engine, what: str = "warehouse") -> Iterator[None]:
    """Turn a lost or refused database connection into WarehouseUnavailable (retried by Airflow),
    with a message naming the database instead of a driver traceback."""
    try:
        yield
    except sa.exc.DBAPIError as exc:
        if not is_transient(engine.dialect, exc):
            raise
        raise WarehouseUnavailable(
            f"cannot reach the {what} {engine.url.render_as_string()}: {str(exc.orig).strip().splitlines()[0]}; "
            f"the task is retried (check the database and the Airflow connection)"
        ) from exc
