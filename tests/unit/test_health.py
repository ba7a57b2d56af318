"""Health checks (versions, staleness, stability, serving health, skew, schema changes) on real
SQLite and PostgreSQL, each with data that shows the condition and data that does not."""

from __future__ import annotations

import datetime as dt
import math
import sys
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from mlmonitor.checks import health, schema, skew
from mlmonitor.checks.base import History
from mlmonitor.config import ModelConfig
from mlmonitor.dialect import Double, capabilities
from mlmonitor.limits import OTHER_VERSIONS, version_key
from mlmonitor.metrics import Metric, RunSummary
from mlmonitor.storage.results import write_results
from mlmonitor.warehouse import ModelTables, column_types, reflect_table
from mlmonitor.window import Window
from tests.factories import model_config

DAY = dt.datetime(2024, 3, 10, tzinfo=dt.UTC)
WINDOW = Window(DAY, DAY + dt.timedelta(days=1))


def model(**extra: Any) -> ModelConfig:
    serving = {
        "model_version_column": "v",
        "latency_column": "lat",
        "status_column": "st",
        "allowed_model_versions": ["1.0", "1.1"],
    }
    return model_config(serving=serving, **extra)


def serving(engine: Engine, rows: list[dict[str, Any]], name: str = "s") -> ModelTables:
    """A serving table with one row per dict (defaults fill the rest), all inside WINDOW."""
    meta = sa.MetaData()
    table = sa.Table(
        name,
        meta,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("ts", sa.DateTime),
        sa.Column("p", Double),
        sa.Column("v", sa.String(8)),
        sa.Column("lat", Double),
        sa.Column("st", sa.String(8)),
        sa.Column("x", Double),
        sa.Column("c", sa.String(8)),
    )
    meta.drop_all(engine)
    meta.create_all(engine)
    base = {"p": 0.5, "v": "1.1", "lat": 40.0, "st": "ok", "x": 1.0, "c": "a"}
    with engine.begin() as conn:
        conn.execute(
            table.insert(),
            [
                {**base, "id": i, "ts": DAY.replace(tzinfo=None) + dt.timedelta(seconds=i), **r}
                for i, r in enumerate(rows)
            ],
        )
    return ModelTables(table, table, ("x",), ("c",))


def by_metric(metrics: list[Metric]) -> dict[str, Metric]:
    return {m.metric: m for m in metrics}


# --- model versions -----------------------------------------------------------------------


def test_single_allowed_version_is_ok() -> None:
    (m,) = health.version_metrics(model(), {"1.1": 100})
    assert (m.metric, m.value, m.status) == ("share:1.1", 1.0, "ok")


def test_mixed_versions_warn_unless_expected_and_unknown_version_alerts() -> None:
    mixed = by_metric(health.version_metrics(model(), {"1.0": 25, "1.1": 75}))
    assert (mixed["share:1.0"].value, mixed["share:1.0"].status, mixed["share:1.1"].status) == (
        0.25,
        "warning",
        "warning",
    )
    ab_test = health.version_metrics(model(health={"mixed_versions": "ok"}), {"1.0": 50, "1.1": 50})
    assert {m.status for m in ab_test} == {"ok"}
    rogue = by_metric(health.version_metrics(model(health={"mixed_versions": "ok"}), {"1.1": 90, "2.0-rc": 10}))
    assert rogue["share:2.0-rc"].status == "alert" and rogue["share:2.0-rc"].details["unknown"]
    assert rogue["share:1.1"].status == "ok"


def test_version_change_names_old_to_new_and_only_new_versions() -> None:
    before = (dt.datetime(2024, 3, 9), {"1.0": 100})
    clean = model_config(serving={"model_version_column": "v"})
    (m,) = health.version_change_metric(clean, {"2.0": 100}, before)
    assert (m.metric, m.column, m.value, m.status) == ("version_change", "v", 1.0, "warning")
    assert (m.details["change"], m.details["new"], m.details["unexpected"]) == ("1.0 -> 2.0", ["2.0"], ["2.0"])
    assert health.version_change_metric(clean, {"1.0": 100}, before) == []  # nothing new
    assert health.version_change_metric(clean, {"2.0": 100}, None) == []  # nothing to compare with
    (allowed,) = health.version_change_metric(model(), {"1.0": 50, "1.1": 50}, before)  # 1.1 is allowed
    assert (allowed.status, allowed.details["change"], allowed.details["unexpected"]) == ("ok", "1.0 -> 1.1", [])
    quiet = model_config(serving={"model_version_column": "v"}, health={"version_change": "ok"})
    assert health.version_change_metric(quiet, {"2.0": 1}, before)[0].status == "ok"


def test_version_change_compares_clipped_versions_and_never_reports_the_other_versions_bucket() -> None:
    long = "2.0-" + "x" * 100  # stored clipped (version_key), allowed as written in the YAML
    allowed = model_config(serving={"model_version_column": "v", "allowed_model_versions": ["1.0", long]})
    (m,) = health.version_change_metric(allowed, {version_key(long): 100}, (dt.datetime(2024, 3, 9), {"1.0": 100}))
    assert (m.status, m.details["new"], m.details["unexpected"]) == ("ok", [version_key(long)], [])
    clean = model_config(serving={"model_version_column": "v", "max_model_versions": 1})
    # a version dropping out of the most served ones into the bucket is not a new version
    moved_out = health.version_change_metric(clean, {"1.0": 90, OTHER_VERSIONS: 10}, (DAY, {"1.0": 50, "1.1": 50}))
    assert moved_out == []
    # a version rising into the most served ones from the previous window's bucket is not new either
    assert (
        health.version_change_metric(clean, {"1.1": 90, OTHER_VERSIONS: 10}, (DAY, {"1.0": 90, OTHER_VERSIONS: 10}))
        == []
    )
    # a version the previous window (without a bucket) did not serve still is
    (new,) = health.version_change_metric(clean, {"2.0": 90, OTHER_VERSIONS: 10}, (DAY, {"1.0": 100}))
    assert new.details["new"] == ["2.0"]


# --- staleness ----------------------------------------------------------------------------


def test_staleness_from_configured_training_date() -> None:
    fresh = model(health={"staleness": {"trained_at": "2024-03-01"}})
    (age,) = health.staleness_metrics(None, fresh, WINDOW, {"1.1": 1}, None)  # type: ignore[arg-type]
    assert (age.metric, age.value, age.status) == ("model_age_days", 10.0, "ok")
    old = model(health={"staleness": {"trained_at": "2023-09-01", "warn_days": 30, "alert_days": 180}})
    (age,) = health.staleness_metrics(None, old, WINDOW, {}, None)  # type: ignore[arg-type]
    assert age.value == 192.0 and age.status == "alert"
    mid = model(health={"staleness": {"trained_at": "2024-01-01", "warn_days": 30, "alert_days": 180}})
    assert health.staleness_metrics(None, mid, WINDOW, {}, None)[0].status == "warning"  # type: ignore[arg-type]


def test_staleness_defaults_to_the_newest_training_timestamp() -> None:
    (age,) = health.staleness_metrics(None, model(), WINDOW, {}, "2024-03-09 00:00:00")  # type: ignore[arg-type]
    assert (age.value, age.status, age.details["source"]) == (2.0, "ok", "training max timestamp")
    assert health.staleness_metrics(None, model(), WINDOW, {}, None) == []  # type: ignore[arg-type]


def test_staleness_per_version_from_a_registry_table(engine: Engine) -> None:
    meta = sa.MetaData()
    reg = sa.Table("registry", meta, sa.Column("model_version", sa.String(8)), sa.Column("trained_at", sa.DateTime))
    meta.create_all(engine)
    with engine.begin() as conn:
        conn.execute(
            reg.insert(),
            [
                {"model_version": "1.0", "trained_at": dt.datetime(2023, 6, 1)},
                {"model_version": "1.1", "trained_at": dt.datetime(2024, 3, 1)},
            ],
        )
    cfg = model(health={"staleness": {"registry": {"table": "registry"}}})
    ages = by_metric(health.staleness_metrics(engine, cfg, WINDOW, {"1.0": 5, "1.1": 5, "1.2": 1}, None))
    assert (ages["model_age_days:1.1"].value, ages["model_age_days:1.1"].status) == (10.0, "ok")
    assert ages["model_age_days:1.0"].status == "alert" and ages["model_age_days:1.0"].value == 284.0
    assert (
        ages["model_age_days:1.2"].status == "warning"
        and "register it" in ages["model_age_days:1.2"].details["problem"]
    )


# --- numerical stability ------------------------------------------------------------------


def test_clean_predictions_are_stable(engine: Engine) -> None:
    tables = serving(engine, [{"p": i / 100} for i in range(101)])
    shares = by_metric(health.stability_metrics(engine, model(), tables, WINDOW))
    assert {k: (m.value, m.status) for k, m in shares.items()} == {
        "null_share": (0.0, "ok"),
        "nan_share": (0.0, "ok"),
        "inf_share": (0.0, "ok"),
        "out_of_range_share": (0.0, "ok"),
    }


def test_nan_inf_and_out_of_range_predictions_alert(engine: Engine) -> None:
    caps = capabilities(engine.dialect)
    if caps.stores_infinity:
        values = [0.5] * 6 + [math.nan, math.inf, -math.inf, 1.5]
    else:  # MariaDB stores neither (PyMySQL refuses to send them): a writer sends NULL and huge values
        values = [0.5] * 6 + [None, sys.float_info.max, -sys.float_info.max, 1.5]
    tables = serving(engine, [{"p": v} for v in values])
    shares = by_metric(health.stability_metrics(engine, model(), tables, WINDOW))
    if caps.stores_infinity:
        assert (shares["inf_share"].value, shares["inf_share"].status) == (0.2, "alert")
        assert (shares["out_of_range_share"].value, shares["out_of_range_share"].status) == (0.1, "alert")
    else:
        assert (shares["inf_share"].value, shares["inf_share"].status) == (0.0, "ok")
        assert (shares["out_of_range_share"].value, shares["out_of_range_share"].status) == (0.3, "alert")
    if engine.dialect.name == "postgresql":  # PostgreSQL stores NaN as NaN
        assert (shares["nan_share"].value, shares["null_share"].value) == (0.1, 0.0)
    else:  # SQLite stores NaN as NULL (MariaDB got a NULL): it counts as a NULL prediction
        assert (shares["nan_share"].value, shares["null_share"].value) == (0.0, 0.1)
    assert shares["null_share"].status == "alert" or shares["nan_share"].status == "alert"


def test_regression_has_no_default_range_and_a_tolerated_share(engine: Engine) -> None:
    invalid = math.inf if capabilities(engine.dialect).stores_infinity else None  # MariaDB: NULL instead
    tables = serving(engine, [{"p": v} for v in [-5.0, 250.0, invalid] + [1.0] * 97])
    cfg = model(prediction={"task": "regression"}, health={"stability": {"max_invalid_share": 0.02}})
    shares = by_metric(health.stability_metrics(engine, cfg, tables, WINDOW))
    assert shares["out_of_range_share"].value == 0.0
    assert shares["inf_share" if invalid else "null_share"].value == 0.01
    assert {m.status for m in shares.values()} == {"ok"}
    ranged = model(prediction={"task": "regression"}, health={"stability": {"min": 0, "max": 100}})
    assert by_metric(health.stability_metrics(engine, ranged, tables, WINDOW))["out_of_range_share"].value == 0.02


# --- serving health -----------------------------------------------------------------------


def test_operations_without_history_only_report(engine: Engine) -> None:
    tables = serving(engine, [{"lat": float(i)} for i in range(1, 101)])
    ops = by_metric(health.operations_metrics(engine, model(), tables, WINDOW, 100, health.Trailing()))
    assert (ops["p50"].value, ops["p95"].value, ops["p99"].value) == (50.0, 95.0, 99.0)
    assert (ops["rows"].value, ops["error_rate"].value) == (100.0, 0.0)
    assert {m.status for m in ops.values()} == {"ok"}


def test_latency_regression_volume_change_and_error_rate(engine: Engine) -> None:
    rows = [{"lat": float(i), "st": "error" if i <= 3 else "ok"} for i in range(1, 101)]
    tables = serving(engine, rows)
    steady = health.Trailing(p95=[90.0, 95.0, 100.0], rows=[100.0, 110.0, 90.0], error_rate=[0.03, 0.03, 0.03])
    ok = by_metric(health.operations_metrics(engine, model(), tables, WINDOW, 100, steady))
    assert {m.status for m in ok.values()} == {"ok"}
    before = health.Trailing(p95=[50.0, 60.0, 70.0], rows=[300.0, 310.0, 290.0], error_rate=[0.0, 0.0, 0.001])
    bad = by_metric(health.operations_metrics(engine, model(), tables, WINDOW, 100, before))
    assert (bad["p95"].status, bad["p95"].threshold) == ("warning", 90.0)
    assert (bad["rows"].status, bad["rows"].details["trailing_median_rows"]) == ("warning", 300.0)
    assert (bad["error_rate"].value, bad["error_rate"].status) == (0.03, "warning")
    spike = health.volume_metric(model(), 1000, [300.0, 310.0, 290.0])
    assert spike.status == "warning"
    strict = model(health={"operations": {"max_error_rate": 0.02}})
    assert (
        by_metric(health.operations_metrics(engine, strict, tables, WINDOW, 100, steady))["error_rate"].status
        == "alert"
    )


def test_trailing_history_is_read_from_the_metrics_table(engine: Engine) -> None:
    for day, p95 in [(1, 50.0), (2, 60.0), (3, 70.0)]:
        start = dt.datetime(2024, 3, day, tzinfo=dt.UTC)
        run = RunSummary(
            model="m",
            window_start=start.isoformat(),
            window_end=(start + dt.timedelta(days=1)).isoformat(),
            rows=100,
            model_versions={},
            status="ok",
            failed_expectations=0,
            drifted_features=0,
        )
        write_results(
            engine,
            run,
            [
                Metric(check="health", column="lat", metric="p95", value=p95),
                Metric(check="health", column="", metric="rows", value=100.0),
                Metric(check="health", column="st", metric="error_rate", value=0.01),
            ],
            start,
        )
    hist = health.trailing(History(engine, "m", WINDOW.start), model())
    assert (list(hist.p95), list(hist.rows), list(hist.error_rate)) == ([70.0, 60.0, 50.0], [100.0] * 3, [0.01] * 3)


# --- training/serving skew ----------------------------------------------------------------


def _offline(engine: Engine, rows: list[dict[str, Any]]) -> None:
    meta = sa.MetaData()
    table = sa.Table("offline", meta, sa.Column("id", sa.Integer), sa.Column("x", Double), sa.Column("c", sa.String(8)))
    meta.drop_all(engine)
    meta.create_all(engine)
    with engine.begin() as conn:
        conn.execute(table.insert(), rows)


def test_skew_matching_offline_features_is_ok(engine: Engine) -> None:
    tables = serving(engine, [{"x": float(i), "c": "a"} for i in range(10)])
    _offline(engine, [{"id": i, "x": float(i) + 1e-9, "c": "a"} for i in range(8)])
    out = skew.skew_metrics(engine, model(skew={"table": "offline"}), tables, WINDOW)
    got = {(m.column, m.metric): (m.value, m.status) for m in out}
    assert got[("", "skew_join_coverage")] == (0.8, "ok")
    assert got[("x", "skew_mismatch_rate")] == (0.0, "ok") and got[("c", "skew_mismatch_rate")] == (0.0, "ok")
    assert got[("x", "skew_mean_abs_diff")][0] == pytest.approx(1e-9)


def test_skew_reports_mismatch_rate_and_mean_abs_difference(engine: Engine) -> None:
    tables = serving(engine, [{"x": float(i), "c": "a"} for i in range(10)])
    offline = [{"id": i, "x": float(i) + (2.0 if i < 2 else 0.0), "c": "b" if i == 9 else "a"} for i in range(10)]
    offline[5]["x"] = None
    _offline(engine, offline)
    out = skew.skew_metrics(engine, model(skew={"table": "offline"}), tables, WINDOW)
    got = {(m.column, m.metric): m for m in out}
    assert (got[("x", "skew_mismatch_rate")].value, got[("x", "skew_mismatch_rate")].status) == (0.3, "warning")
    assert got[("x", "skew_mean_abs_diff")].value == pytest.approx(4.0 / 9)  # NULL pairs are left out of the mean
    assert (got[("c", "skew_mismatch_rate")].value, got[("c", "skew_mismatch_rate")].status) == (0.1, "warning")
    assert skew.skew_metrics(engine, model(), tables, WINDOW) == []


# --- upstream schema changes --------------------------------------------------------------


def test_schema_change_names_added_removed_and_retyped_columns(engine: Engine) -> None:
    cfg = model()
    serving(engine, [{}])
    first = schema.schema_metrics(
        History(engine, "m", WINDOW.start), cfg, (reflect_table(engine, "s", "serving"),), engine.dialect, {}
    )
    assert (first[0].value, first[0].status, first[0].details["compared_with"]) == (0.0, "ok", None)
    summary = RunSummary(
        model="m",
        window_start=WINDOW.start.isoformat(),
        window_end=WINDOW.end.isoformat(),
        rows=1,
        model_versions={},
        status="ok",
        failed_expectations=0,
        drifted_features=0,
    )
    write_results(engine, summary, first, DAY)
    later = Window(WINDOW.end, WINDOW.end + dt.timedelta(days=1))
    same = schema.schema_metrics(
        History(engine, "m", later.start), cfg, (reflect_table(engine, "s", "serving"),), engine.dialect, {}
    )
    assert (same[0].value, same[0].status) == (0.0, "ok")

    with engine.begin() as conn:  # upstream: drop x, retype c, add y
        conn.exec_driver_sql("ALTER TABLE s DROP COLUMN x")
        conn.exec_driver_sql("ALTER TABLE s ADD COLUMN y INTEGER")
        conn.exec_driver_sql("ALTER TABLE s DROP COLUMN c")
        conn.exec_driver_sql("ALTER TABLE s ADD COLUMN c INTEGER")
    (changed,) = schema.schema_metrics(
        History(engine, "m", later.start), cfg, (reflect_table(engine, "s", "serving"),), engine.dialect, {}
    )
    assert (changed.value, changed.status) == (3.0, "alert")
    assert changed.details["added"] == ["y"] and changed.details["removed"] == ["x"]
    assert [r["column"] for r in changed.details["retyped"]] == ["c"]
    integer = "INTEGER(11)" if engine.dialect.name == "mysql" else "INTEGER"  # as the warehouse spells it
    assert changed.details["retyped"][0]["to"] == integer
    assert changed.details["compared_with"].startswith("2024-03-10")
    assert changed.details["change"] == f"added y; removed x; retyped c VARCHAR(8) -> {integer}"


def test_first_window_compares_with_the_tables_at_baseline_derivation(engine: Engine) -> None:
    serving(engine, [{}])
    table = reflect_table(engine, "s", "serving")
    derived = column_types(table, engine.dialect)
    with engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE s ADD COLUMN new_feature REAL")
    table = reflect_table(engine, "s", "serving")
    (row,) = schema.schema_metrics(
        History(engine, "m", WINDOW.start), model(), (table,), engine.dialect, {table.fullname: derived}
    )
    assert (row.value, row.status, row.details["added"]) == (1.0, "alert", ["new_feature"])
    assert row.details["compared_with"] == "baseline derivation"
    # another table's snapshot is not this table's reference
    (other,) = schema.schema_metrics(
        History(engine, "m", WINDOW.start), model(), (table,), engine.dialect, {"t": derived}
    )
    assert (other.value, other.details["compared_with"]) == (0.0, None)


def test_compare_is_pure() -> None:
    diff = schema.compare({"a": "INT", "b": "TEXT"}, {"a": "BIGINT", "c": "TEXT"})
    assert diff == {"added": ["c"], "removed": ["b"], "retyped": [{"column": "a", "from": "INT", "to": "BIGINT"}]}
