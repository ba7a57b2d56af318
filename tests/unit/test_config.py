"""Model YAML loading and the wording of ConfigError messages."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml

from mlmonitor import config
from mlmonitor.config import ConfigError, get_model, load_model, load_models, models_dir

REPO = Path(__file__).resolve().parents[2]
CARLOAN = REPO / "include" / "models" / "carloan.yaml"


def minimal(name: str = "m") -> dict:
    return {
        "name": name,
        "training": {"table": "train"},
        "serving": {"table": "serve", "timestamp_column": "ts", "id_column": "id"},
        "prediction": {"column": "score", "task": "classification"},
        "start_date": "2024-03-01",
    }


def write(folder: Path, filename: str, data: object) -> Path:
    path = folder / filename
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data, encoding="utf-8")
    return path


def test_carloan_yaml_is_valid_and_infers_features() -> None:
    m = load_model(CARLOAN)
    assert m.name == "carloan"
    assert m.training.table == "carloan_training"
    assert m.serving.timestamp_column == "timestamp"
    assert m.serving.allowed_model_versions == ("1.0.0", "1.1.0")
    assert m.prediction.task == "classification"
    assert m.features.numeric == () and m.features.categorical == ()
    assert m.start_date == dt.date(2024, 3, 1)
    assert m.validation.min_rows == 100
    assert (m.drift.numeric_method, m.drift.categorical_method, m.drift.fdr) == ("wasserstein", "linf", 0.01)
    assert m.reserved_columns() == {
        "timestamp",
        "id",
        "y_pred_proba",
        "repaid",
        "model_version",
        "latency_ms",
        "y_pred",
        "application_time",
    }


def test_minimal_file_gets_defaults(tmp_path: Path) -> None:
    m = load_model(write(tmp_path, "m.yaml", minimal()))
    assert m.schedule == "@daily"
    assert m.retries == 2
    assert m.warehouse_conn_id == "mlmonitor_warehouse"
    assert m.labels is None


def test_unknown_key_names_file_field_and_fix(tmp_path: Path) -> None:
    data = minimal()
    data["serving"]["timstamp_column"] = data["serving"].pop("timestamp_column")
    path = write(tmp_path, "m.yaml", data)
    with pytest.raises(ConfigError) as err:
        load_model(path)
    msg = str(err.value)
    assert str(path) in msg
    assert "field 'serving.timstamp_column'" in msg
    assert "remove it or fix its spelling" in msg
    # the correctly spelled field is then missing as well
    assert "field 'serving.timestamp_column'" in msg
    assert "2 problem(s)" in msg


def test_missing_required_field_says_add_it(tmp_path: Path) -> None:
    data = minimal()
    del data["serving"]["id_column"]
    path = write(tmp_path, "m.yaml", data)
    with pytest.raises(ConfigError) as err:
        load_model(path)
    msg = str(err.value)
    assert str(path) in msg
    assert "field 'serving.id_column'" in msg
    assert "add it" in msg
    assert "1 problem(s)" in msg


def test_sql_injection_in_table_name_is_rejected(tmp_path: Path) -> None:
    data = minimal()
    data["training"]["table"] = "carloan; DROP TABLE x"
    with pytest.raises(ConfigError) as err:
        load_model(write(tmp_path, "m.yaml", data))
    msg = str(err.value)
    assert "field 'training.table'" in msg
    assert "a SQL identifier" in msg


@pytest.mark.parametrize("ident", ["carloan_training", "analytics.carloan_training", "_t$1"])
def test_plain_and_schema_qualified_identifiers_are_accepted(tmp_path: Path, ident: str) -> None:
    data = minimal()
    data["training"]["table"] = ident
    assert load_model(write(tmp_path, "m.yaml", data)).training.table == ident


def test_malformed_yaml_names_the_line(tmp_path: Path) -> None:
    # line 1 "name: m", line 2 "serving:", line 3 opens a flow list that is never closed,
    # line 4 "prediction: x" is where the parser notices (expected ',' or ']').
    path = write(tmp_path, "m.yaml", "name: m\nserving:\n  table: [a, b\nprediction: x\n")
    with pytest.raises(ConfigError) as err:
        load_model(path)
    msg = str(err.value)
    assert str(path) in msg
    assert "not valid YAML at line 4" in msg
    assert "fix the syntax" in msg


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="expected a mapping of model settings at the top level, got list"):
        load_model(write(tmp_path, "m.yaml", "- a\n- b\n"))


def test_file_name_must_match_model_name(tmp_path: Path) -> None:
    path = write(tmp_path, "other.yaml", minimal("m"))
    with pytest.raises(ConfigError) as err:
        load_model(path)
    msg = str(err.value)
    assert "field 'name' is 'm'" in msg
    assert "'other.yaml'" in msg
    assert "rename the file to m.yaml" in msg


def test_load_models_lists_every_broken_file(tmp_path: Path) -> None:
    write(tmp_path, "good.yaml", minimal("good"))
    bad1 = minimal("bad1")
    del bad1["prediction"]
    write(tmp_path, "bad1.yaml", bad1)
    bad2 = minimal("bad2")
    bad2["prediction"]["task"] = "ranking"
    write(tmp_path, "bad2.yml", bad2)
    write(tmp_path, "notes.txt", "ignored: [")  # not a YAML file name
    write(tmp_path, ".hidden.yaml", "ignored: [")  # hidden files are skipped
    with pytest.raises(ConfigError) as err:
        load_models(tmp_path)
    msg = str(err.value)
    assert str(tmp_path / "bad1.yaml") in msg and "field 'prediction'" in msg
    assert str(tmp_path / "bad2.yml") in msg and "field 'prediction.task'" in msg
    assert "use one of the allowed values" in msg
    assert "good.yaml" not in msg


def test_load_models_rejects_duplicate_names(tmp_path: Path) -> None:
    write(tmp_path, "m.yaml", minimal("m"))
    write(tmp_path, "m.yml", minimal("m"))
    with pytest.raises(ConfigError, match=r"m\.yml: model name 'm' is already used by .*m\.yaml; names must be unique"):
        load_models(tmp_path)


def test_load_models_sorted_by_file_name(tmp_path: Path) -> None:
    write(tmp_path, "zeta.yaml", minimal("zeta"))
    write(tmp_path, "alpha.yml", minimal("alpha"))
    assert [m.name for m in load_models(tmp_path)] == ["alpha", "zeta"]


def test_get_model_of_unknown_name_lists_known_models(tmp_path: Path) -> None:
    write(tmp_path, "alpha.yaml", minimal("alpha"))
    write(tmp_path, "beta.yml", minimal("beta"))
    assert get_model("beta", tmp_path).name == "beta"
    with pytest.raises(ConfigError) as err:
        get_model("gamma", tmp_path)
    assert str(err.value) == f"no model named 'gamma' in {tmp_path} (known models: alpha, beta)"


def test_get_model_in_empty_folder_says_none(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"\(known models: none\)"):
        get_model("gamma", tmp_path)


def test_missing_models_folder(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="models folder does not exist; set MLMONITOR_MODELS_DIR"):
        load_models(tmp_path / "nope")


def test_models_dir_env_var_is_honoured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, "envmodel.yaml", minimal("envmodel"))
    monkeypatch.setenv("MLMONITOR_MODELS_DIR", str(tmp_path))
    assert models_dir() == tmp_path
    assert [m.name for m in load_models()] == ["envmodel"]
    assert get_model("envmodel").name == "envmodel"
    with pytest.raises(ConfigError, match="known models: envmodel"):
        get_model("carloan")


def test_models_dir_defaults_to_include_models(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLMONITOR_MODELS_DIR", raising=False)
    assert models_dir() == config.DEFAULT_MODELS_DIR == CARLOAN.parent
    assert get_model("carloan").name == "carloan"


@pytest.mark.parametrize("schedule", ["@daily", "@hourly", "0 6 * * *", "*/15 * * * 1-5"])
def test_good_schedules(tmp_path: Path, schedule: str) -> None:
    data = minimal()
    data["schedule"] = schedule
    assert load_model(write(tmp_path, "m.yaml", data)).schedule == schedule


@pytest.mark.parametrize("schedule", ["every day", "@fortnightly", "0 6 * * * *", ""])
def test_bad_schedule_is_rejected(tmp_path: Path, schedule: str) -> None:
    data = minimal()
    data["schedule"] = schedule
    with pytest.raises(ConfigError) as err:
        load_model(write(tmp_path, "m.yaml", data))
    msg = str(err.value)
    assert "field 'schedule'" in msg
    assert "is not a cron expression" in msg


def test_feature_in_both_lists_is_rejected(tmp_path: Path) -> None:
    data = minimal()
    data["features"] = {"numeric": ["a", "b"], "categorical": ["b"]}
    with pytest.raises(ConfigError, match=r"columns \['b'\] are listed as both numeric and categorical"):
        load_model(write(tmp_path, "m.yaml", data))


def test_bad_date_and_bounds(tmp_path: Path) -> None:
    data = minimal()
    data["start_date"] = "next tuesday"
    data["drift"] = {"fdr": 1.5}
    with pytest.raises(ConfigError) as err:
        load_model(write(tmp_path, "m.yaml", data))
    msg = str(err.value)
    assert "field 'start_date'" in msg and "write a date like 2024-03-01" in msg
    assert "field 'drift.fdr'" in msg


def test_health_and_labels_defaults(tmp_path: Path) -> None:
    m = load_model(write(tmp_path, "m.yaml", minimal()))
    h = m.health
    assert (h.mixed_versions, h.unknown_version, h.schema_changes) == ("warning", "alert", "alert")
    assert (h.staleness.warn_days, h.staleness.alert_days, h.staleness.trained_at, h.staleness.registry) == (
        90,
        180,
        None,
        None,
    )
    assert (h.stability.min, h.stability.max, h.stability.max_invalid_share) == (None, None, 0.0)
    assert (h.operations.latency_regression, h.operations.volume_drop, h.operations.max_error_rate) == (1.5, 0.5, 0.05)
    assert m.skew is None and m.serving.status_column is None and m.serving.error_values == ("error",)
    carloan = load_model(CARLOAN)
    assert carloan.labels is not None and carloan.labels.lookback_windows == 10
    assert (carloan.labels.positive_label, carloan.labels.threshold, carloan.labels.min_labels) == ("0", 0.5, 30)
    assert carloan.health.staleness.registry is not None
    assert carloan.health.staleness.registry.trained_at_column == "trained_at"


@pytest.mark.parametrize(
    ("section", "value", "field", "says"),
    [
        ("health", {"staleness": {"warn_days": 30, "alert_days": 10}}, "health.staleness", "alert_days (10.0) must be"),
        (
            "health",
            {"staleness": {"trained_at": "2024-01-01", "registry": {"table": "r"}}},
            "health.staleness",
            "either",
        ),
        ("health", {"stability": {"min": 1, "max": 0}}, "health.stability", "min (1.0) must be below max"),
        ("health", {"mixed_versions": "maybe"}, "health.mixed_versions", "use one of the allowed values"),
        ("health", {"operations": {"volume_drop": 1.5}}, "health.operations.volume_drop", "less than 1"),
        (
            "labels",
            {"table": "l", "id_column": "id", "label_column": "y", "schedule": "sometimes"},
            "labels.schedule",
            "cron",
        ),
        (
            "labels",
            {"table": "l", "id_column": "id", "label_column": "y", "lookback_windows": 0},
            "labels.lookback_windows",
            "greater than or equal to 1",
        ),
        ("skew", {"table": "x; drop"}, "skew.table", "a SQL identifier"),
    ],
)
def test_bad_health_fields_name_field_and_fix(
    tmp_path: Path, section: str, value: dict[str, object], field: str, says: str
) -> None:
    data = minimal()
    data[section] = value
    with pytest.raises(ConfigError) as err:
        load_model(write(tmp_path, "m.yaml", data))
    msg = str(err.value)
    assert f"field '{field}'" in msg and says in msg and "fix:" in msg
