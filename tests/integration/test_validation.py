"""Suite derivation and window validation end to end with real GE, on SQLite and PostgreSQL.

Hand-made training data with known statistics; serving windows with one injected fault each. Every
faulty window must fail exactly the expectation that names the fault, and nothing else.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import great_expectations as gx
import pytest
import sqlalchemy as sa

from mlmonitor import pipeline
from mlmonitor.checks.validation import validate_window
from mlmonitor.config import ModelConfig
from mlmonitor.dialect import Double
from mlmonitor.metrics import Metric
from mlmonitor.project import GxProject
from mlmonitor.warehouse import resolve_tables
from mlmonitor.window import Window
from tests.factories import model_config
from tests.warehouses import WAREHOUSES

pytestmark = pytest.mark.integration
DAY = dt.datetime(2024, 3, 1, tzinfo=dt.UTC)
WINDOW = Window(DAY, DAY + dt.timedelta(days=1))
N = 1000
CITIES = ("berlin", "paris", "rome")


def _columns(income_type: Any = Double) -> list[sa.Column[Any]]:
    return [
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("ts", sa.DateTime),
        sa.Column("income", income_type),
        sa.Column("age", sa.Integer),
        sa.Column("city", sa.String(20)),
        sa.Column("score", Double),
    ]


def _rows(n: int = N) -> list[dict[str, Any]]:
    # income 1..n, age 20..69, city cycling through three values, score in [0, 1)
    start = DAY.replace(tzinfo=None)
    return [
        {
            "id": i,
            "ts": start + dt.timedelta(seconds=60 * i),
            "income": float(i + 1),
            "age": 20 + i % 50,
            "city": CITIES[i % 3],
            "score": (i % 100) / 100,
        }
        for i in range(n)
    ]


def _table(engine: sa.Engine, name: str, rows: list[dict[str, Any]], columns: list[sa.Column[Any]]) -> None:
    md = sa.MetaData()
    table = sa.Table(name, md, *columns)
    md.create_all(engine)
    with engine.begin() as conn:
        conn.execute(table.insert(), rows)


def _model(serving: str = "serving") -> ModelConfig:
    return model_config(
        "loans",
        training={"table": "training"},
        serving={"table": serving},
        prediction={"column": "score"},
        features={"numeric": ["income", "age"], "categorical": ["city"]},
        exclude=[],
        start_date="2024-01-01",
    )


@pytest.fixture(params=WAREHOUSES)
def engine(request: pytest.FixtureRequest) -> sa.Engine:
    db = request.getfixturevalue(f"{request.param}_database")
    eng = sa.create_engine(db["url"])
    _table(eng, "training", _rows(), _columns())
    _table(eng, "serving", _rows(), _columns())
    yield eng
    eng.dispose()


@pytest.fixture
def derived(engine: sa.Engine, project: GxProject) -> dict[str, Any]:
    return pipeline.derive(_model(), engine, project, gx.__version__)


def _validate(engine: sa.Engine, project: GxProject, serving: str = "serving") -> tuple[bool, list[Metric], Any]:
    model = _model(serving)
    outcome = validate_window(project, model, engine, resolve_tables(model, engine), WINDOW)
    return outcome.success, outcome.metrics, outcome.docs_path


def _failed(metrics: list[Metric]) -> set[tuple[str, str]]:
    return {(m.metric, m.column) for m in metrics if m.status != "ok"}


def _faulty(engine: sa.Engine, name: str, change: Any, columns: list[sa.Column[Any]] | None = None) -> str:
    rows = _rows()
    for row in rows:
        change(row)
    _table(engine, name, rows, columns or _columns())
    return name


def test_derived_rules_on_hand_made_training_data(derived: dict[str, Any], project: GxProject) -> None:
    suite = json.loads(Path(derived["suite"]).read_text())
    by_rule: dict[tuple[str, str], dict[str, Any]] = {
        (e["meta"]["mlmonitor"]["rule"], e["kwargs"].get("column", "")): e for e in suite["expectations"]
    }
    # income = 1..1000: q0.001 = 1, q0.999 = 999 (discrete quantiles), widened by 10% of the span;
    # mostly = the 0.998 inside the quantiles - 4*sqrt(0.0025/500) = 0.98906
    income = by_rule[("numeric_range", "income")]["kwargs"]
    assert income == {"column": "income", "min_value": -98.8, "max_value": 1098.8, "mostly": 0.9891}
    # age = 20..69, q0.001 = 20, q0.999 = 69: pad 4.9
    assert by_rule[("numeric_range", "age")]["kwargs"]["min_value"] == 15.1
    assert by_rule[("numeric_range", "age")]["kwargs"]["max_value"] == 73.9
    city = by_rule[("categorical_set", "city")]["kwargs"]
    assert city == {"column": "city", "value_set": list(CITIES)}  # no `mostly`: every unseen value fails
    # no training nulls: 1 - 4 * sqrt(0.0025 / 500) = 0.9911
    assert by_rule[("nulls", "income")]["kwargs"]["mostly"] == 0.9911
    assert by_rule[("prediction_probability", "score")]["kwargs"] == {
        "column": "score",
        "min_value": 0.0,
        "max_value": 1.0,
    }
    assert ("unique_ids", "id") in by_rule
    types = {e["kwargs"]["column"]: e for e in json.loads(Path(derived["schema_suite"]).read_text())["expectations"]}
    assert set(types) == {"id", "score", "income", "age", "city"} | ({"ts"} if "ts" in types else set())
    assert "INTEGER" in types["age"]["kwargs"]["type_list"] and "TEXT" not in types["age"]["kwargs"]["type_list"]
    assert "VARCHAR" in types["city"]["kwargs"]["type_list"]
    assert {c for (rule, c) in by_rule if rule == "schema"} == {"ts", "id", "score", "income", "age", "city"}
    assert by_rule[("numeric_range", "income")]["meta"]["mlmonitor"]["statistic"] == "training quantiles q0.001/q0.999"


def test_suite_is_byte_identical_when_re_derived(
    engine: sa.Engine, project: GxProject, derived: dict[str, Any]
) -> None:
    first = [Path(derived[k]).read_bytes() for k in ("suite", "schema_suite")]
    again = pipeline.derive(_model(), engine, project, gx.__version__)
    assert again["suite_changed"] is False
    assert [Path(again[k]).read_bytes() for k in ("suite", "schema_suite")] == first
    # validating (GE registers the suites in its context) does not rewrite them either
    _validate(engine, project)
    assert [Path(derived[k]).read_bytes() for k in ("suite", "schema_suite")] == first


@pytest.mark.mariadb
def test_a_mariadb_url_validates_like_a_mysql_one(mariadb_database: dict[str, str], project: GxProject) -> None:
    """GE 1.x knows MariaDB only as `mysql`: a `mariadb+pymysql://` engine (the CLI accepts any URL)
    validates with GE's MySQL quoting and types, every expectation of a clean window passing."""
    engine = sa.create_engine(sa.make_url(mariadb_database["url"]).set(drivername="mariadb+pymysql"))
    assert engine.dialect.name == "mariadb"
    _table(engine, "training", _rows(), _columns())
    _table(engine, "serving", _rows(), _columns())
    derived = pipeline.derive(_model(), engine, project, gx.__version__)
    assert derived["schema_expectations"] > 0, "the type expectations need the dialect GE knows"
    success, metrics, _ = _validate(engine, project)
    assert success, _failed(metrics)
    assert len(metrics) == derived["expectations"] + derived["schema_expectations"]
    engine.dispose()


def test_clean_window_passes_every_expectation(engine: sa.Engine, project: GxProject, derived: dict[str, Any]) -> None:
    success, metrics, docs_path = _validate(engine, project)
    assert success, _failed(metrics)
    assert len(metrics) == derived["expectations"] + derived["schema_expectations"]
    assert docs_path and (project.docs_dir / docs_path).is_file()
    index = project.docs_dir / "mlmonitor" / "loans.html"
    assert quote(docs_path) in index.read_text()


def test_validation_draws_no_progress_bars(
    engine: sa.Engine, project: GxProject, derived: dict[str, Any], capfd: pytest.CaptureFixture[str]
) -> None:
    """GE's tqdm bars go to stderr, which the Airflow task log records as ERROR lines."""
    capfd.readouterr()
    _validate(engine, project)
    assert "Calculating Metrics" not in capfd.readouterr().err


def test_injected_nulls_fail_the_null_expectation(
    engine: sa.Engine, project: GxProject, derived: dict[str, Any]
) -> None:
    def nulls(row: dict[str, Any]) -> None:
        if row["id"] % 10 == 0:
            row["age"] = None

    success, metrics, _ = _validate(engine, project, _faulty(engine, "serving_nulls", nulls))
    assert not success
    assert _failed(metrics) == {("expect_column_values_to_not_be_null", "age")}


def test_unseen_category_fails_the_value_set_naming_it(
    engine: sa.Engine, project: GxProject, derived: dict[str, Any]
) -> None:
    def unseen(row: dict[str, Any]) -> None:
        if row["id"] < 3:
            row["city"] = "atlantis"

    success, metrics, _ = _validate(engine, project, _faulty(engine, "serving_unseen", unseen))
    assert not success
    assert _failed(metrics) == {("expect_column_values_to_be_in_set", "city")}
    (failed,) = [m for m in metrics if m.status != "ok"]
    assert failed.details["unexpected_count"] == 3
    assert [v["value"] for v in failed.details["partial_unexpected_counts"]] == ["atlantis"]


def test_out_of_range_values_fail_the_range(engine: sa.Engine, project: GxProject, derived: dict[str, Any]) -> None:
    def huge(row: dict[str, Any]) -> None:
        if row["id"] % 20 == 0:
            row["income"] = 1e7

    success, metrics, _ = _validate(engine, project, _faulty(engine, "serving_range", huge))
    assert not success
    assert _failed(metrics) == {("expect_column_values_to_be_between", "income")}
    (failed,) = [m for m in metrics if m.status != "ok"]
    assert failed.value == pytest.approx(5.0)  # percent of rows outside the range


def test_missing_column_fails_its_existence(engine: sa.Engine, project: GxProject, derived: dict[str, Any]) -> None:
    columns = [c for c in _columns() if c.name != "city"]
    name = _faulty(engine, "serving_missing", lambda row: row.pop("city"), columns)
    success, metrics, _ = _validate(engine, project, name)
    assert not success
    failed = _failed(metrics)
    assert ("expect_column_to_exist", "city") in failed
    assert {column for _, column in failed} == {"city"}
    # the run still completes: window statistics leave the column out and say why
    model = _model(name)
    prepared = pipeline.prepare(model, engine, project, WINDOW)
    assert "city" not in prepared.tables.features
    assert "missing from serving table" in prepared.tables.schema_issues["city"]


def test_type_change_fails_the_type_expectation(engine: sa.Engine, project: GxProject, derived: dict[str, Any]) -> None:
    def as_text(row: dict[str, Any]) -> None:
        row["income"] = str(row["income"])

    name = _faulty(engine, "serving_retyped", as_text, _columns(income_type=sa.String(30)))
    success, metrics, _ = _validate(engine, project, name)
    assert not success
    failed = _failed(metrics)
    assert ("expect_column_values_to_be_in_type_list", "income") in failed
    assert {column for _, column in failed} == {"income"}
    (typed,) = [m for m in metrics if m.metric == "expect_column_values_to_be_in_type_list" and m.column == "income"]
    assert "VARCHAR" in json.dumps(typed.details.get("observed_value"))


def test_training_change_check_re_derives_over_an_old_or_corrupt_baseline(
    engine: sa.Engine, project: GxProject, derived: dict[str, Any]
) -> None:
    model = _model()
    assert pipeline.training_changed(model, engine, project)[0] is False
    path = project.baseline_path(model.name)
    path.write_text('{"bins_version": 1}')
    changed, reason = pipeline.training_changed(model, engine, project)
    assert changed and "bins version 1" in reason
    path.write_text("not json")
    changed, reason = pipeline.training_changed(model, engine, project)
    assert changed and "is corrupt" in reason
