"""DAG integrity: the dags folder imports cleanly, builds both DAGs per model, and does no I/O at parse time."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Parse the dags folder in a fresh interpreter where every way to reach a connection, a Variable,
# a database or the network raises: if parsing needed any of them, the DAG file would fail to import.
PARSE = r"""
import json, socket, sys
def boom(*args, **kwargs):
    raise RuntimeError("I/O at DAG parse time")
from airflow.dag_processing.dagbag import DagBag
from airflow.sdk import BaseHook, Variable
import sqlalchemy
BaseHook.get_connection = classmethod(boom)
Variable.get = staticmethod(boom)
sqlalchemy.create_engine = boom
socket.socket.connect = boom
heavy_before = {m for m in ("great_expectations", "scipy", "pandas") if m in sys.modules}
bag = DagBag(sys.argv[1])
print(json.dumps({
    "errors": {k: str(v) for k, v in bag.import_errors.items()},
    "dags": sorted(bag.dag_ids),
    "descriptions": {d: bag.dags[d].description or "" for d in bag.dag_ids},
    "heavy": sorted({m for m in ("great_expectations", "scipy") if m in sys.modules} - heavy_before),
}))
"""


def _parse(dags_folder: Path, env: dict[str, str] | None = None) -> dict[str, object]:
    import os

    out = subprocess.run(
        [sys.executable, "-c", PARSE, str(dags_folder)],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def test_dags_parse_without_io_or_heavy_imports() -> None:
    result = _parse(ROOT / "dags")
    assert result["errors"] == {}
    assert result["dags"] == [
        "mlmonitor_ack",
        "mlmonitor_carloan",
        "mlmonitor_carloan_baseline",
        "mlmonitor_carloan_labels",
        "mlmonitor_retention",
    ]
    assert result["heavy"] == [], "great_expectations/scipy must only be imported inside tasks"


def test_broken_yaml_is_a_placeholder_dag_naming_file_field_and_fix(tmp_path: Path) -> None:
    """One broken model YAML must not hide the DAGs of the others."""
    good = (ROOT / "include/models/carloan.yaml").read_text()
    (tmp_path / "carloan.yaml").write_text(
        good.replace("  id_column: id\n  model_version_column", "  idcolumn: id\n  model_version_column")
    )
    (tmp_path / "other.yaml").write_text(good.replace("name: carloan", "name: other"))
    (tmp_path / "syntax.yaml").write_text("name: syntax\nserving: {table: [unclosed\n")
    result = _parse(ROOT / "dags", {"MLMONITOR_MODELS_DIR": str(tmp_path)})
    assert result["errors"] == {}
    assert result["dags"] == [
        "mlmonitor_ack",  # the valid models' acknowledge / mute form
        "mlmonitor_invalid_config_carloan",
        "mlmonitor_invalid_config_syntax",
        "mlmonitor_other",
        "mlmonitor_other_baseline",
        "mlmonitor_other_labels",
        "mlmonitor_retention",
    ]
    descriptions = result["descriptions"]
    message = descriptions["mlmonitor_invalid_config_carloan"]  # type: ignore[index]
    assert message.startswith("INVALID CONFIG carloan.yaml") and "serving.id_column" in message and "add it" in message
    assert "not valid YAML at line 3" in descriptions["mlmonitor_invalid_config_syntax"]  # type: ignore[index]


def test_missing_models_folder_is_an_import_error(tmp_path: Path) -> None:
    result = _parse(ROOT / "dags", {"MLMONITOR_MODELS_DIR": str(tmp_path / "nope")})
    (message,) = result["errors"].values()  # type: ignore[union-attr]
    assert "models folder does not exist" in message and "MLMONITOR_MODELS_DIR" in message


@pytest.fixture(scope="module")
def dags() -> dict[str, object]:
    from mlmonitor.config import load_models
    from mlmonitor_airflow.dag_factory import build_dags

    return build_dags(load_models())  # type: ignore[return-value]


def test_monitor_dag_shape(dags: dict[str, object]) -> None:
    dag = dags["mlmonitor_carloan"]
    assert [t.task_id for t in dag.topological_sort()] == ["stats", "validate", "persist", "notify", "gate"]  # type: ignore[attr-defined]
    assert dag.max_active_runs == 1 and dag.doc_md and "mlmonitor" in dag.tags  # type: ignore[attr-defined]
    assert dag.get_task("gate").retries == 0 and dag.get_task("stats").retries == 2  # type: ignore[attr-defined]
    assert dag.owner == "ml-platform"  # type: ignore[attr-defined]
    params = dag.params  # type: ignore[attr-defined]
    assert params["window_start"] is None and params["window_end"] is None and params["notify"] is True
    spec = params.get_param("window_start").schema
    assert spec["format"] == "date-time" and "null" in spec["type"] and params.get_param("window_start").description


def test_scheduled_windows_are_full_data_intervals(dags: dict[str, object]) -> None:
    """Airflow 3's plain cron timetable gives empty intervals; ours covers [day, day + 1)."""
    from airflow.serialization.encoders import coerce_to_core_timetable
    from airflow.timetables.base import DataInterval, TimeRestriction

    timetable = coerce_to_core_timetable(dags["mlmonitor_carloan"].timetable)  # type: ignore[attr-defined]
    start = dt.datetime(2024, 3, 1, tzinfo=dt.UTC)
    first = timetable.next_dagrun_info(
        last_automated_data_interval=None, restriction=TimeRestriction(earliest=start, latest=None, catchup=True)
    )
    assert first is not None
    assert (first.data_interval.start, first.data_interval.end) == (start, start + dt.timedelta(days=1))
    following = timetable.next_dagrun_info(
        last_automated_data_interval=first.data_interval,
        restriction=TimeRestriction(earliest=start, latest=None, catchup=True),
    )
    assert following is not None and following.data_interval == DataInterval(
        start + dt.timedelta(days=1), start + dt.timedelta(days=2)
    )
    manual = timetable.infer_manual_data_interval(run_after=dt.datetime(2024, 3, 5, 13, tzinfo=dt.UTC))
    assert (manual.start, manual.end) == (
        dt.datetime(2024, 3, 4, tzinfo=dt.UTC),
        dt.datetime(2024, 3, 5, tzinfo=dt.UTC),
    )


def test_labels_dag_shape(dags: dict[str, object]) -> None:
    dag = dags["mlmonitor_carloan_labels"]
    assert [t.task_id for t in dag.topological_sort()] == ["rescore", "gate"]  # type: ignore[attr-defined]
    assert dag.params["lookback_windows"] == 10 and dag.doc_md and "labels" in dag.tags  # type: ignore[attr-defined]
    assert dag.get_task("gate").retries == 0  # type: ignore[attr-defined]


def test_no_labels_section_means_no_labels_dag() -> None:
    from mlmonitor.config import load_model
    from mlmonitor_airflow.dag_factory import labels_dag

    model = load_model(ROOT / "include/models/carloan.yaml").model_copy(update={"labels": None})
    assert labels_dag(model) is None


def test_grouping_adds_the_grouped_delivery_dag_fed_by_the_notify_tasks() -> None:
    from mlmonitor_airflow.dag_factory import ALERTS_QUEUED, GROUPED_DAG_ID, build_dags
    from tests.factories import model_config

    plain, grouped = model_config("a"), model_config("b", alerts={"group_threshold": 5})
    assert GROUPED_DAG_ID not in build_dags([plain])
    dags = build_dags([plain, grouped])
    delivery = dags[GROUPED_DAG_ID]
    assert [t.task_id for t in delivery.tasks] == ["deliver"]  # type: ignore[attr-defined]
    assert dags["mlmonitor_b"].get_task("notify").outlets == [ALERTS_QUEUED]  # type: ignore[attr-defined]
    assert dags["mlmonitor_a"].get_task("notify").outlets == []  # type: ignore[attr-defined]
