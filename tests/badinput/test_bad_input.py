"""The bad-input matrix: one test per kind of bad input, each ending in a clear error (naming the
model, table or column and the fix) or an explicit alert or warning, never a bare traceback or a
silent pass. Driven through the core pipeline (derive, prepare, analyse, validate, persist) on real
SQLite and PostgreSQL; the Airflow layer where its behaviour matters."""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from mlmonitor import pipeline
from mlmonitor.alerting.message import Links, build_alert
from mlmonitor.alerting.policy import AlertDecision, failing, severity_of
from mlmonitor.alerting.slack_blocks import render_slack
from mlmonitor.cli import run_window
from mlmonitor.config import ModelConfig, load_model, parse_model
from mlmonitor.dialect import Double
from mlmonitor.errors import ConfigError, TrainingDataError, WarehouseError
from mlmonitor.metrics import Metric, RunSummary
from mlmonitor.project import GxProject
from mlmonitor.storage.baselines import load_baseline
from mlmonitor.storage.results import read_metrics, read_runs
from mlmonitor.window import Window, window_from_params

pytestmark = pytest.mark.integration
T0 = dt.datetime(2024, 3, 1)
DAY = Window.of(T0, T0 + dt.timedelta(days=1))
CITIES = ("berlin", "paris", "rome", "madrid")
Row = dict[str, Any]


def tiny_model(**overrides: Any) -> ModelConfig:
    data: dict[str, Any] = {
        "name": "tiny",
        "training": {"table": "train"},
        "serving": {"table": "serve", "timestamp_column": "ts", "id_column": "id", "model_version_column": "version"},
        "prediction": {"column": "score", "task": "classification"},
        "features": {"numeric": ["age"], "categorical": ["city"]},
        "exclude": ["label"],
        "start_date": "2024-03-01",
    }
    data.update(overrides)
    return parse_model(data, Path("tiny.yaml"))


def _row(i: int, ts: dt.datetime) -> Row:
    return {
        "id": i,
        "ts": ts,
        "version": "1.0.0",
        "score": (i * 37 % 100) / 100,
        "age": 20.0 + i * 7 % 50,
        "city": CITIES[i % len(CITIES)],
    }


def training_rows(n: int = 400) -> list[Row]:
    return [{**_row(i, T0 - dt.timedelta(days=30)), "label": i % 2} for i in range(n)]


def serving_rows(n: int = 240, start: dt.datetime = T0, step: dt.timedelta = dt.timedelta(minutes=6)) -> list[Row]:
    return [_row(i, start + i * step) for i in range(n)]


def load(
    engine: Engine,
    training: list[Row] | None = None,
    serving: list[Row] | None = None,
    types: dict[str, sa.types.TypeEngine[Any]] | None = None,
) -> None:
    """(Re)create the tiny model's tables from the rows' keys; `types` sets serving column types
    (and the training type of columns the tiny model does not have)."""
    kinds: dict[str, sa.types.TypeEngine[Any]] = {
        "id": sa.Integer(),
        "ts": sa.DateTime(),
        "version": sa.Text(),
        "score": Double,
        "age": Double,
        "city": sa.Text(),
    }
    kinds["label"] = sa.Integer()
    types = types or {}
    training = training if training is not None else training_rows()
    serving = serving if serving is not None else serving_rows()
    md = sa.MetaData()
    train = sa.Table("train", md, *(sa.Column(c, kinds.get(c) or types.get(c, sa.Text())) for c in training[0]))
    columns = list(serving[0]) if serving else list(kinds)
    serve = sa.Table("serve", md, *(sa.Column(c, types.get(c) or kinds.get(c, sa.Text())) for c in columns))
    md.drop_all(engine)
    md.create_all(engine)
    with engine.begin() as conn:
        conn.execute(train.insert(), training)
        if serving:
            conn.execute(serve.insert(), serving)


@pytest.fixture
def sqlite(sqlite_database: dict[str, str]) -> Iterator[Engine]:
    engine = sa.create_engine(sqlite_database["url"])
    yield engine
    engine.dispose()


@pytest.fixture
def warehouse(engine: Engine) -> Engine:
    """The SQLite, PostgreSQL and MariaDB engines of conftest."""
    return engine


def derive(engine: Engine, project: GxProject, model: ModelConfig | None = None) -> ModelConfig:
    import great_expectations as gx

    model = model or tiny_model()
    pipeline.derive(model, engine, project, gx.__version__)
    return model


def monitor(engine: Engine, model: ModelConfig, window: Window = DAY) -> RunSummary:
    return run_window(model, engine, window, None)


def alert_text(summary: RunSummary, metrics: list[Metric]) -> str:
    """The alert text a run would post (Slack message fallback text, also the local alert file)."""
    decision = AlertDecision(kind="alert", reason="test", severity=severity_of(summary.status), since=DAY.start)
    return render_slack(build_alert(decision, summary, metrics, failing(summary, metrics), {}, Links())).text


def statuses(engine: Engine, check: str) -> dict[tuple[str, str], str]:
    return {
        (m["column_name"], m["metric"]): m["status"] for m in read_metrics(engine, "tiny") if m["check_name"] == check
    }


def test_a_clean_window_is_ok(warehouse: Engine, project: GxProject) -> None:
    """The reference point of the matrix: no finding on clean data, so every finding below is caused."""
    load(warehouse)
    summary = monitor(warehouse, derive(warehouse, project))
    assert (summary.status, summary.rows) == ("ok", 240), summary.message


def test_missing_serving_table(sqlite: Engine, project: GxProject) -> None:
    load(sqlite)
    model = derive(sqlite, project)
    with sqlite.begin() as conn:
        conn.exec_driver_sql("DROP TABLE serve")
    with pytest.raises(WarehouseError, match=r"tiny: serving table 'serve' does not exist .*fix the table name"):
        monitor(sqlite, model)
    assert read_runs(sqlite, "tiny") == []


def _schema_alert(engine: Engine, summary: RunSummary, column: str, expectation: str, problem: str) -> None:
    """A schema change of a feature is a result: the run completes, validation names the column and
    the feature is left out of drift, with the reason stored."""
    assert summary.status == "alert", summary.message
    assert statuses(engine, "validation")[(column, expectation)] == "alert"
    (health,) = [m for m in read_metrics(engine, "tiny") if m["metric"] == "serving_schema"]
    assert health["column_name"] == column and problem in json.loads(health["details"])["problem"]
    assert column not in {c for c, _ in statuses(engine, "drift")}


def test_missing_column(warehouse: Engine, project: GxProject) -> None:
    load(warehouse)
    model = derive(warehouse, project)
    load(warehouse, serving=[{k: v for k, v in r.items() if k != "age"} for r in serving_rows()])
    summary = monitor(warehouse, model)
    _schema_alert(warehouse, summary, "age", "expect_column_to_exist", "missing from serving table")


def test_renamed_column(sqlite: Engine, project: GxProject) -> None:
    load(sqlite)
    model = derive(sqlite, project)
    renamed = [{("customer_age" if k == "age" else k): v for k, v in r.items()} for r in serving_rows()]
    load(sqlite, serving=renamed)
    summary = monitor(sqlite, model)
    _schema_alert(sqlite, summary, "age", "expect_column_to_exist", "missing from serving table")


def test_missing_timestamp_column_is_a_clear_error(sqlite: Engine, project: GxProject) -> None:
    load(sqlite)
    model = derive(sqlite, project)
    load(sqlite, serving=[{("when" if k == "ts" else k): v for k, v in r.items()} for r in serving_rows()])
    # the message lists the real columns, so the new name is right there
    with pytest.raises(
        WarehouseError, match=r"column 'ts' does not exist in table 'serve' .*when.*fix the column name"
    ):
        monitor(sqlite, model)


def test_extra_column_is_reported(sqlite: Engine, project: GxProject) -> None:
    load(sqlite)
    model = derive(sqlite, project)
    load(sqlite, serving=[{**r, "new_feature": 1.0} for r in serving_rows()])
    summary = monitor(sqlite, model)
    assert summary.status != "ok" and "new_feature" in summary.message


def test_numeric_column_arriving_as_text(warehouse: Engine, project: GxProject) -> None:
    load(warehouse)
    model = derive(warehouse, project)
    text_rows = [{**r, "age": f"{r['age']:.0f} years"} for r in serving_rows()]
    load(warehouse, serving=text_rows, types={"age": sa.Text()})
    summary = monitor(warehouse, model)
    _schema_alert(warehouse, summary, "age", "expect_column_values_to_be_in_type_list", "TEXT in serving table")


def test_prediction_arriving_as_text_is_a_clear_error(sqlite: Engine, project: GxProject) -> None:
    load(sqlite)
    model = derive(sqlite, project)
    load(sqlite, serving=[{**r, "score": str(r["score"])} for r in serving_rows()], types={"score": sa.Text()})
    with pytest.raises(WarehouseError, match=r"tiny: prediction column 'score' is numeric in training .* but TEXT"):
        monitor(sqlite, model)


def test_empty_window_is_no_data_and_alerts(sqlite: Engine, project: GxProject) -> None:
    load(sqlite)
    model = derive(sqlite, project)
    summary = monitor(sqlite, model, Window.of(T0 - dt.timedelta(days=5), T0 - dt.timedelta(days=4)))
    assert (summary.status, summary.rows) == ("no_data", 0)
    assert "No serving rows in this window" in alert_text(summary, [])
    (row,) = read_runs(sqlite, "tiny")
    assert row["status"] == "no_data"


def test_all_null_column_alerts(warehouse: Engine, project: GxProject) -> None:
    load(warehouse)
    model = derive(warehouse, project)
    load(warehouse, serving=[{**r, "age": None} for r in serving_rows()])
    summary = monitor(warehouse, model)
    assert summary.status == "alert"
    assert statuses(warehouse, "validation")[("age", "expect_column_values_to_not_be_null")] == "alert"
    assert statuses(warehouse, "drift")[("age", "null_rate_shift")] == "warning"


def test_unseen_categories_are_named(warehouse: Engine, project: GxProject) -> None:
    load(warehouse)
    model = derive(warehouse, project)
    load(warehouse, serving=[{**r, "city": "atlantis" if r["id"] % 2 else r["city"]} for r in serving_rows()])
    summary = monitor(warehouse, model)
    assert summary.status == "alert"
    assert "expect_column_values_to_be_in_set(city)" in summary.message
    (drift,) = [
        m
        for m in read_metrics(warehouse, "tiny")
        if m["check_name"] == "drift" and m["column_name"] == "city" and m["metric"] != "null_rate_shift"
    ]
    assert json.loads(drift["details"])["unseen_values"] == [{"value": "atlantis", "count": 120}]


def test_long_unseen_values_are_stored_clipped(sqlite: Engine, project: GxProject) -> None:
    load(sqlite)
    model = derive(sqlite, project)
    long = "atlantis-" + "x" * 5000
    load(sqlite, serving=[{**r, "city": long if r["id"] % 2 else r["city"]} for r in serving_rows()])
    monitor(sqlite, model)
    (unseen,) = json.loads(_distribution_row(sqlite, "city")["details"])["unseen_values"]
    assert unseen["count"] == 120 and len(unseen["value"]) == 200 and unseen["value"].startswith("atlantis-xxx")
    (in_set,) = [m for m in read_metrics(sqlite, "tiny") if m["metric"] == "expect_column_values_to_be_in_set"]
    samples = json.loads(in_set["details"])["partial_unexpected_counts"]
    assert samples and all(len(str(s["value"])) <= 200 for s in samples)


def test_categories_differing_only_in_case_or_spaces_are_unseen(warehouse: Engine, project: GxProject) -> None:
    """'Paris' and 'paris ' are not 'paris': drift counts them as unseen on every warehouse, also on
    MariaDB, whose default collation compares 'Paris' = 'paris ' = 'paris'."""
    load(warehouse)
    model = derive(warehouse, project)
    changed = {1: str.capitalize, 3: lambda c: c + " "}
    load(warehouse, serving=[{**r, "city": changed.get(r["id"] % 4, str)(r["city"])} for r in serving_rows()])
    monitor(warehouse, model)
    (drift,) = [
        m
        for m in read_metrics(warehouse, "tiny")
        if m["check_name"] == "drift" and m["column_name"] == "city" and m["metric"] != "null_rate_shift"
    ]
    assert drift["status"] != "ok"
    unseen = {u["value"]: u["count"] for u in json.loads(drift["details"])["unseen_values"]}
    assert unseen == {"Paris": 60, "madrid ": 60}  # ids 1, 5, 9 ... are paris; 3, 7, 11 ... madrid
    # Great Expectations' own IN (...) follows the column's collation (README: "Window statistics")
    in_set = statuses(warehouse, "validation")[("city", "expect_column_values_to_be_in_set")]
    assert in_set == ("ok" if warehouse.dialect.name == "mysql" else "alert")


@pytest.mark.parametrize("bad", [math.inf, -math.inf])
def test_infinite_values_alert(sqlite: Engine, project: GxProject, bad: float) -> None:
    load(sqlite)
    model = derive(sqlite, project)
    load(
        sqlite,
        serving=[{**r, "age": bad if r["id"] % 3 == 0 else r["age"], "score": r["score"]} for r in serving_rows()],
    )
    summary = monitor(sqlite, model)
    assert summary.status == "alert", summary.message
    assert statuses(sqlite, "validation")[("age", "expect_column_values_to_be_between")] == "alert"
    for m in read_metrics(sqlite, "tiny"):  # the results tables hold no inf that breaks readers
        assert m["value"] is None or math.isfinite(m["value"]), m


@pytest.mark.postgres
def test_nan_predictions_alert(postgres_database: dict[str, str], project: GxProject) -> None:
    engine = sa.create_engine(postgres_database["url"])
    load(engine)
    model = derive(engine, project)
    load(engine, serving=[{**r, "score": math.nan if r["id"] % 4 == 0 else r["score"]} for r in serving_rows()])
    summary = monitor(engine, model)
    assert summary.status == "alert", summary.message
    assert statuses(engine, "validation")[("score", "expect_column_values_to_be_between")] == "alert"
    engine.dispose()


def _distribution_row(engine: Engine, column: str) -> dict[str, Any]:
    (row,) = [
        m
        for m in read_metrics(engine, "tiny")
        if m["check_name"] == "drift" and m["column_name"] == column and m["metric"] != "null_rate_shift"
    ]
    return row


@pytest.mark.parametrize(
    ("db", "bad"),
    [
        pytest.param("sqlite", (math.inf, -math.inf), id="sqlite"),  # SQLite stores a NaN as NULL
        pytest.param("postgres", (math.nan, math.inf, -math.inf), id="postgres", marks=pytest.mark.postgres),
    ],  # MariaDB cannot store either
)
def test_non_finite_training_values_are_left_out_and_counted(
    request: pytest.FixtureRequest, project: GxProject, db: str, bad: tuple[float, ...]
) -> None:
    """NaN and infinite training values used to make a baseline that could not be read back (every
    window: "baseline corrupt"); they are now counted, left out of the statistics and reported."""
    engine = sa.create_engine(request.getfixturevalue(f"{db}_database")["url"])
    rows = training_rows()
    for i, value in enumerate(bad):
        rows[10 * i]["age"] = value
        rows[10 * i + 5]["score"] = value
    load(engine, training=rows)
    model = derive(engine, project)
    baseline = load_baseline(project.baseline_path("tiny"), "tiny")  # readable: every statistic is finite
    assert (baseline.numeric["age"].non_finite, baseline.prediction.non_finite) == (len(bad), len(bad))
    assert baseline.numeric["age"].count == 400 and sum(baseline.numeric["age"].counts) == 400 - len(bad)
    warning = f"train.age: {len(bad)} NaN or infinite value(s) of 400 left out of the baseline"
    assert warning in baseline.warnings
    suite = json.loads((project.suites_dir / "tiny.json").read_text())
    assert warning in suite["meta"]["mlmonitor"]["training_warnings"] and warning in suite["notes"]
    summary = monitor(engine, model)
    assert summary.status == "ok", summary.message
    assert warning in (project.docs_dir / "expectations" / "tiny.html").read_text()  # the suite's Data Docs page
    engine.dispose()


def test_a_baseline_that_cannot_be_finite_is_refused_naming_the_column(warehouse: Engine, project: GxProject) -> None:
    """Finite values whose sum or square overflows double precision: the derivation is refused with
    the column named (SQLite returns infinity, PostgreSQL and MariaDB refuse the overflow)."""
    load(warehouse, training=[{**r, "age": 1e308 if r["id"] % 2 else -1e308} for r in training_rows()])
    with pytest.raises(TrainingDataError, match=r"tiny: training column train\.age gives statistics that are not fin"):
        derive(warehouse, project)
    assert not project.baseline_path("tiny").exists()


def test_an_empty_training_table_is_refused(warehouse: Engine, project: GxProject) -> None:
    load(warehouse)
    with warehouse.begin() as conn:
        conn.execute(sa.text("DELETE FROM train"))
    with pytest.raises(TrainingDataError, match=r"tiny: training table train has no rows.*load the training data"):
        derive(warehouse, project)
    assert not project.baseline_path("tiny").exists()
    assert not (project.suites_dir / "tiny.json").exists()


@pytest.mark.parametrize("step", [1.0, -1.0])
def test_a_constant_training_feature_can_drift(warehouse: Engine, project: GxProject, step: float) -> None:
    """A zero-variance feature had a Wasserstein scale of 0 (never drifts) and one bin for its value
    and everything above it: half the window moving off the constant is now drift, either way."""
    load(warehouse, training=[{**r, "age": 42.0} for r in training_rows()])
    model = derive(warehouse, project)
    assert "train.age: every training value is 42; any window value off it counts as drift" in (
        load_baseline(project.baseline_path("tiny"), "tiny").warnings
    )
    load(warehouse, serving=[{**r, "age": 42.0 + step * (r["id"] % 2)} for r in serving_rows()])
    monitor(warehouse, model)
    row = _distribution_row(warehouse, "age")
    assert (row["metric"], row["status"]) == ("wasserstein", "warning")
    assert row["value"] == pytest.approx(0.5)  # the share of window values off the constant


def test_an_all_null_training_feature_is_reported(warehouse: Engine, project: GxProject) -> None:
    """A feature with no training value cannot have its distribution compared: derivation says so, the
    distribution row says why it never drifts, and values arriving show as a null-rate shift."""
    load(warehouse, training=[{**r, "age": None} for r in training_rows()])
    model = derive(warehouse, project)
    warning = "train.age: no training value (all NULL or not finite), so its distribution cannot be compared"
    assert any(w.startswith(warning) for w in load_baseline(project.baseline_path("tiny"), "tiny").warnings)
    monitor(warehouse, model)
    assert "cannot be compared" in json.loads(_distribution_row(warehouse, "age")["details"])["note"]
    assert statuses(warehouse, "drift")[("age", "null_rate_shift")] == "warning"


def test_a_200_character_version_is_stored_clipped(warehouse: Engine, project: GxProject) -> None:
    """`share:<version>` of a 200-character version overflowed the metric column (String(128): a
    DataError on PostgreSQL on every window); versions are stored clipped, still distinct."""
    long_a, long_b = "v" * 199 + "a", "v" * 199 + "b"  # the same first 199 characters
    load(warehouse)
    model = derive(warehouse, project)
    load(warehouse, serving=[{**r, "version": long_a if r["id"] % 2 else long_b} for r in serving_rows()])
    summary = monitor(warehouse, model)
    assert summary.status == "warning", summary.message  # mixed versions, nothing else
    (run,) = read_runs(warehouse, "tiny")
    stored = json.loads(run["model_versions"])
    assert len(stored) == 2 and set(stored.values()) == {120}
    assert all(len(v) == 64 and v.startswith("v" * 55 + "…") for v in stored)
    shares = [m["metric"] for m in read_metrics(warehouse, "tiny") if m["metric"].startswith("share:")]
    assert sorted(shares) == sorted(f"share:{v}" for v in stored)


def test_500_versions_in_one_window_are_bounded(warehouse: Engine, project: GxProject) -> None:
    """A version per request (a bug upstream) would write 500 share rows per window, and as many
    Prometheus series and XCom keys: the 20 most served are kept and the rest summed as other."""
    load(warehouse)
    serving = {**tiny_model().serving.model_dump(exclude_defaults=True), "allowed_model_versions": ["1.0.0"]}
    model = derive(warehouse, project, tiny_model(serving=serving))
    rows = serving_rows(540, step=dt.timedelta(minutes=2))
    load(warehouse, serving=[{**r, "version": "1.0.0" if r["id"] < 40 else f"build-{r['id']:04d}"} for r in rows])
    summary = monitor(warehouse, model)
    assert summary.status == "alert", summary.message  # versions outside allowed_model_versions
    (run,) = read_runs(warehouse, "tiny")
    stored = json.loads(run["model_versions"])
    assert len(stored) == 21 and stored["1.0.0"] == 40 and stored["(other versions)"] == 500 - 19
    assert sum(stored.values()) == summary.rows == 540
    shares = {m["metric"]: m for m in read_metrics(warehouse, "tiny") if m["metric"].startswith("share:")}
    assert len(shares) == 21
    assert shares["share:(other versions)"]["value"] == pytest.approx(481 / 540)
    assert (shares["share:1.0.0"]["status"], shares["share:(other versions)"]["status"]) == ("warning", "alert")


def test_duplicate_ids_alert(warehouse: Engine, project: GxProject) -> None:
    load(warehouse)
    model = derive(warehouse, project)
    load(warehouse, serving=[{**r, "id": r["id"] // 2} for r in serving_rows()])
    summary = monitor(warehouse, model)
    assert summary.status == "alert"
    assert statuses(warehouse, "validation")[("id", "expect_column_values_to_be_unique")] == "alert"


@pytest.mark.postgres
def test_100k_distinct_values_stay_bounded(postgres_database: dict[str, str], project: GxProject) -> None:
    """A categorical column with 100,000 distinct values in training and serving: the baseline keeps
    top_k, the alert and the stored details stay small, nothing pulls the values into the worker."""
    n = 100_000
    training = [{**r, "city": f"c{i}"} for i, r in enumerate(training_rows(n))]
    serving = [{**r, "city": f"s{i}"} for i, r in enumerate(serving_rows(n, step=dt.timedelta(seconds=0.8)))]
    warehouse = sa.create_engine(postgres_database["url"])
    load(warehouse, training=training, serving=serving)
    model = derive(warehouse, project)
    baseline = json.loads(project.baseline_path("tiny").read_text())
    assert len(baseline["categorical"]["city"]["top"]) == model.drift.top_k
    summary = monitor(warehouse, model)
    assert summary.status == "alert" and summary.rows == n
    metrics = read_metrics(warehouse, "tiny")
    assert max(len(m["details"]) for m in metrics) < 20_000
    (drift,) = [
        m
        for m in metrics
        if m["check_name"] == "drift" and m["column_name"] == "city" and m["metric"] != "null_rate_shift"
    ]
    assert len(json.loads(drift["details"]).get("unseen_values", [])) <= 10
    assert len(summary.message) < 2_000
    assert len(alert_text(summary, [])) < 4_000


@pytest.mark.parametrize("aware", [False, True])
def test_timestamps_naive_or_aware_and_a_window_across_dst(warehouse: Engine, project: GxProject, aware: bool) -> None:
    """Hourly rows around the Europe/Berlin spring-forward night; a local-time window of that day
    holds 23 hours, whether the column stores naive UTC or timezone-aware instants."""
    if aware and warehouse.dialect.name == "sqlite":
        pytest.skip("SQLite has no timezone-aware timestamp type")
    start = dt.datetime(2024, 3, 30, 12)
    rows = serving_rows(72, start=start, step=dt.timedelta(hours=1))
    if aware:
        rows = [{**r, "ts": r["ts"].replace(tzinfo=dt.UTC)} for r in rows]
    load(warehouse, serving=rows, types={"ts": sa.DateTime(timezone=aware)})
    model = derive(warehouse, project)
    window = window_from_params("2024-03-31T00:00:00+01:00", "2024-04-01T00:00:00+02:00", T0, T0)
    assert window.end - window.start == dt.timedelta(hours=23)
    summary = monitor(warehouse, model, window)
    assert summary.rows == 23
    (row,) = read_runs(warehouse, "tiny")
    assert (row["window_start"], row["window_end"]) == (dt.datetime(2024, 3, 30, 23), dt.datetime(2024, 3, 31, 22))


def test_malformed_yaml(tmp_path: Path) -> None:
    path = tmp_path / "tiny.yaml"
    path.write_text("name: tiny\nserving:\n  table: serve\n   id_column: id\n")
    with pytest.raises(ConfigError, match=r"tiny.yaml: not valid YAML at line 4, column \d+: .*fix the syntax"):
        load_model(path)


def test_unknown_keys(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"field 'serving.id_colum': Extra inputs .*remove it or fix its spelling"):
        tiny_model(serving={"table": "serve", "timestamp_column": "ts", "id_column": "id", "id_colum": "x"})


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("training.table", "train; DROP TABLE train"),
        ("serving.table", 'serve" OR 1=1 --'),
        ("prediction.column", "score) FROM serve; --"),
        ("features.numeric", ["age", "1; DELETE FROM serve"]),
    ],
)
def test_sql_injection_in_table_or_column_names_is_rejected(field: str, value: Any) -> None:
    section, key = field.split(".")
    base = tiny_model().model_dump(mode="json")
    base[section][key] = value
    with pytest.raises(ConfigError, match=rf"field '{field}(\.\d+)?': .*a SQL identifier"):
        parse_model(base, Path("tiny.yaml"))


def test_reserved_words_as_names_are_quoted(warehouse: Engine, project: GxProject) -> None:
    """Valid identifiers that are SQL keywords work end to end, because every name is quoted (with
    backticks on MariaDB, in GE's queries too)."""
    rename = {"age": "order", "city": "group"}
    load(
        warehouse,
        training=[{rename.get(k, k): v for k, v in r.items()} for r in training_rows()],
        serving=[{rename.get(k, k): v for k, v in r.items()} for r in serving_rows()],
        types={"order": Double, "group": sa.Text()},
    )
    model = derive(warehouse, project, tiny_model(features={"numeric": ["order"], "categorical": ["group"]}))
    summary = monitor(warehouse, model)
    assert summary.status == "ok", summary.message


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        ("yesterday", None, "window_start: 'yesterday' is not an ISO 8601 datetime"),
        ("2024-03-01'; DROP TABLE serve; --", None, "is not an ISO 8601 datetime"),
        ("2024-03-05", "2024-03-01", "window_end 2024-03-01T00:00:00+00:00 must be after window_start"),
        ("2024-03-01", "2024-03-01", "must be after window_start"),
    ],
)
def test_invalid_trigger_params(start: str, end: str | None, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("+", r"\+")):
        window_from_params(start, end, T0, T0 + dt.timedelta(days=1))


def test_trigger_columns_param_must_name_monitored_features(sqlite: Engine, project: GxProject) -> None:
    load(sqlite)
    model = derive(sqlite, project)
    prepared = pipeline.prepare(model, sqlite, project, DAY)
    with pytest.raises(ConfigError, match=r"columns \['age; DROP TABLE serve'\] are not monitored features"):
        pipeline.analyse(model, sqlite, sqlite, prepared, DAY, ["age; DROP TABLE serve"])


def test_a_window_far_larger_than_usual(sqlite: Engine, project: GxProject) -> None:
    """A two-year ad-hoc window over daily serving logs: correct counts from SQL aggregates, and an
    explicit warning that the window is far longer than the schedule interval."""
    load(sqlite, serving=serving_rows(3 * 240))  # three days of logs
    model = derive(sqlite, project)
    summary = monitor(sqlite, model, Window.of(T0 - dt.timedelta(days=365), T0 + dt.timedelta(days=365)))
    assert summary.rows == 720
    assert summary.status == "warning" and "window_intervals" in summary.message
    health = statuses(sqlite, "health")
    assert health[("", "window_intervals")] == "warning"
