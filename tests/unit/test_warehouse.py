"""Reflected tables and columns, feature inference and identifier quoting on real SQLite."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from mlmonitor import profile as prof
from mlmonitor.config import ModelConfig
from mlmonitor.dialect import Double
from mlmonitor.errors import WarehouseError
from mlmonitor.warehouse import column, is_numeric, reflect_table, resolve_tables, window_filter
from mlmonitor.window import Window
from tests.factories import model_config

T0 = dt.datetime(2024, 3, 1)


def model(**overrides: Any) -> ModelConfig:
    defaults: dict[str, Any] = {
        "training": {"table": "train", "timestamp_column": "created_at"},
        "serving": {
            "table": "serve",
            "timestamp_column": "ts",
            "id_column": "id",
            "model_version_column": "version",
            "latency_column": "latency_ms",
        },
        "prediction": {"column": "score", "task": "classification", "class_column": "y_pred"},
        "exclude": ["secret"],
        "labels": {"table": "labels", "id_column": "id", "label_column": "label"},
    }
    return model_config(**{**defaults, **overrides})


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    engine = sa.create_engine(f"sqlite:///{tmp_path}/w.db")
    md = sa.MetaData()
    sa.Table(
        "train",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("created_at", sa.DateTime),
        sa.Column("ts", sa.DateTime),
        sa.Column("version", sa.Text),
        sa.Column("latency_ms", Double),
        sa.Column("score", Double),
        sa.Column("y_pred", sa.Integer),
        sa.Column("label", sa.Integer),
        sa.Column("secret", Double),
        sa.Column("age", sa.Integer),
        sa.Column("income", sa.Numeric(12, 2)),
        sa.Column("city", sa.String(32)),
        sa.Column("flag", sa.Boolean),
        sa.Column("born", sa.Date),  # neither numeric nor categorical: ignored
    )
    sa.Table(
        "serve",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("ts", sa.DateTime, nullable=False),
        sa.Column("version", sa.Text),
        sa.Column("latency_ms", Double),
        sa.Column("score", Double),
        sa.Column("y_pred", sa.Integer),
        sa.Column("age", sa.Integer),
        sa.Column("income", sa.Numeric(12, 2)),
        sa.Column("city", sa.String(32)),
        sa.Column("flag", sa.Boolean),
    )
    md.create_all(engine)
    return engine


def test_reflect_missing_table_names_it(engine: Engine) -> None:
    with pytest.raises(WarehouseError) as err:
        reflect_table(engine, "nope", "m: training")
    msg = str(err.value)
    assert msg.startswith("m: training table 'nope' does not exist in the warehouse sqlite:///")
    assert "fix the table name in the model YAML" in msg


def test_reflect_existing_table(engine: Engine) -> None:
    t = reflect_table(engine, "serve", "m: serving")
    assert t.name == "serve"
    assert t.c.keys() == ["id", "ts", "version", "latency_ms", "score", "y_pred", "age", "income", "city", "flag"]


def test_missing_column_lists_existing_ones(engine: Engine) -> None:
    t = reflect_table(engine, "serve", "m: serving")
    assert column(t, "age", "m: feature") is t.c.age
    with pytest.raises(WarehouseError) as err:
        column(t, "agee", "m: feature")
    assert str(err.value) == (
        "m: feature column 'agee' does not exist in table 'serve' "
        "(its columns: id, ts, version, latency_ms, score, y_pred, age, income, city, flag); "
        "fix the column name in the model YAML"
    )


def test_is_numeric_by_reflected_type(engine: Engine) -> None:
    t = reflect_table(engine, "train", "m: training")
    assert [c.name for c in t.c if is_numeric(c)] == [
        "id",
        "latency_ms",
        "score",
        "y_pred",
        "label",
        "secret",
        "age",
        "income",
    ]
    assert not is_numeric(t.c.flag)
    assert not is_numeric(t.c.city)


def test_resolve_tables_infers_features_excluding_reserved_columns(engine: Engine) -> None:
    m = model()
    tables = resolve_tables(m, engine)
    # reserved: ts, id, score, secret (exclude), version, latency_ms, y_pred, created_at, label
    assert tables.numeric == ("age", "income")
    assert tables.categorical == ("city", "flag")
    assert tables.features == ("age", "income", "city", "flag")
    assert tables.ts(m).name == "ts" and tables.ts(m).table is tables.serving
    assert tables.training.name == "train"


def test_resolve_tables_keeps_listed_features(engine: Engine) -> None:
    tables = resolve_tables(model(features={"numeric": ["income"], "categorical": ["city", "age"]}), engine)
    assert tables.numeric == ("income",)
    assert tables.categorical == ("city", "age")  # a numeric column may be monitored as categorical


def test_listed_numeric_text_feature_must_move_to_categorical(engine: Engine) -> None:
    with pytest.raises(WarehouseError) as err:
        resolve_tables(model(features={"numeric": ["city"]}), engine)
    msg = str(err.value)
    assert "m: feature 'city' is listed as numeric but is VARCHAR(32) in 'train'" in msg
    assert "move it to features.categorical" in msg


def test_listed_feature_missing_from_training(engine: Engine) -> None:
    with pytest.raises(WarehouseError, match="m: feature column 'colour' does not exist in table 'train'"):
        resolve_tables(model(features={"categorical": ["colour"]}), engine)


def test_feature_missing_or_retyped_in_serving_is_a_schema_issue_not_a_crash(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE train ADD COLUMN extra INTEGER"))
        conn.execute(sa.text("ALTER TABLE train ADD COLUMN code INTEGER"))
        conn.execute(sa.text("ALTER TABLE serve ADD COLUMN code VARCHAR(10)"))
    tables = resolve_tables(model(), engine)
    assert tables.schema_issues == {
        "extra": "missing from serving table 'serve'",
        "code": "is VARCHAR(10) in serving table 'serve' but INTEGER in training table 'train'",
    }
    assert {"extra", "code"} <= set(tables.features)
    servable = tables.servable()
    assert not {"extra", "code"} & set(servable.features)
    assert servable.schema_issues == tables.schema_issues


def test_configured_serving_column_missing(engine: Engine) -> None:
    m = model(serving={"table": "serve", "timestamp_column": "event_time", "id_column": "id"})
    with pytest.raises(WarehouseError, match="m: serving column 'event_time' does not exist in table 'serve'"):
        resolve_tables(m, engine)


def test_missing_serving_table(engine: Engine) -> None:
    m = model(serving={"table": "serve_logs", "timestamp_column": "ts", "id_column": "id"})
    with pytest.raises(WarehouseError, match="m: serving table 'serve_logs' does not exist"):
        resolve_tables(m, engine)


def test_no_features_at_all(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path}/w.db")
    md = sa.MetaData()
    for name in ("train", "serve"):
        sa.Table(
            name,
            md,
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
            sa.Column("ts", sa.DateTime),
            sa.Column("score", Double),
        )
    md.create_all(engine)
    m = model(
        training={"table": "train"},
        serving={"table": "serve", "timestamp_column": "ts", "id_column": "id"},
        prediction={"column": "score", "task": "regression"},
        exclude=[],
        labels=None,
    )
    with pytest.raises(WarehouseError, match="m: no feature columns found in 'train'; list them under features:"):
        resolve_tables(m, engine)


def test_sql_keyword_column_is_quoted_end_to_end(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path}/w.db")
    md = sa.MetaData()
    tables = {}
    for name in ("train", "serve"):
        tables[name] = sa.Table(
            name,
            md,
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
            sa.Column("ts", sa.DateTime, nullable=False),
            sa.Column("score", Double),
            sa.Column("order", sa.Integer),
            sa.Column("group", sa.String(8)),
        )
    md.create_all(engine)
    rows = [
        {"id": i, "ts": T0 + dt.timedelta(hours=i), "score": 0.5, "order": i, "group": "g" + str(i % 2)}
        for i in range(1, 5)
    ]  # order 1..4, group g1 g0 g1 g0
    with engine.begin() as conn:
        conn.execute(tables["train"].insert(), rows)
        conn.execute(tables["serve"].insert(), rows)
    m = model(
        training={"table": "train"},
        serving={"table": "serve", "timestamp_column": "ts", "id_column": "id"},
        prediction={"column": "score", "task": "classification"},
        exclude=[],
        labels=None,
    )
    resolved = resolve_tables(m, engine)
    assert resolved.numeric == ("order",)
    assert resolved.categorical == ("group",)

    p = prof.numeric_profile(engine, resolved.training.c["order"])
    # 1..4: mean 2.5; E[x^2] = 30/4 = 7.5; var = 7.5 - 6.25 = 1.25; q0.5 = ceil(2)=2nd value = 2
    assert (p.count, p.nulls, p.min, p.max, p.mean) == (4, 0, 1.0, 4.0, 2.5)
    assert p.std == pytest.approx(1.25**0.5)
    assert p.quantiles["0.5"] == 2.0

    # serving window [01:00, 03:00) -> ids 1, 2 -> order 1, 2 -> edges [2] -> bins [1, 1]
    window = Window.of(T0 + dt.timedelta(hours=1), T0 + dt.timedelta(hours=3))
    where = window_filter(resolved.ts(m), window)
    assert prof.bin_counts(engine, resolved.serving.c["order"], [2.0], where) == ([1, 1], 0)
    cp = prof.categorical_profile(engine, resolved.serving.c["group"], top_k=5)
    assert cp.top == {"g0": 2, "g1": 2}
    assert prof.category_counts(engine, resolved.serving.c["group"], ["g0"], where) == ({"g0": 1}, 1, 0)
