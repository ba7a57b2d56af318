"""Retention (mlmonitor.storage.retention, pipeline.prune): old windows' results rows, validation
results, Data Docs pages and alerts removed, recent ones and other models' kept; on SQLite,
PostgreSQL and MariaDB."""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa

from mlmonitor import pipeline
from mlmonitor.checks.validation import drop_missing_pages
from mlmonitor.metrics import Metric, RunSummary
from mlmonitor.project import GxProject
from mlmonitor.storage import retention
from mlmonitor.storage.results import read_metrics, read_runs, write_results
from mlmonitor.storage.retention import prune_alerts
from tests.factories import model_config

NOW = dt.datetime(2024, 6, 1, tzinfo=dt.UTC)
OLD, RECENT = NOW - dt.timedelta(days=100), NOW - dt.timedelta(days=2)
BEFORE = NOW - dt.timedelta(days=30)


def _window(engine: sa.Engine, model: str, start: dt.datetime) -> None:
    summary = RunSummary(
        model=model,
        window_start=start.isoformat(),
        window_end=(start + dt.timedelta(days=1)).isoformat(),
        rows=10,
        model_versions={"1": 10},
        status="ok",
        failed_expectations=0,
        drifted_features=0,
        message="10 rows",
    )
    metric = Metric(check="drift", column="x", metric="psi", value=0.01, status="ok")
    write_results(engine, summary, [metric], start)


def _validation(project: GxProject, suite: str, start: dt.datetime) -> list[Path]:
    """A validation run as Great Expectations stores it: result JSON and Data Docs page."""
    run = f"{suite.removesuffix('_schema')} {start:%Y-%m-%dT%H:%M}"
    out = []
    for root, suffix in (
        (project.gx_dir / "uncommitted" / "validations", "json"),
        (project.docs_dir / "validations", "html"),
    ):
        path = root / suite / run / "20240601T000000.000000Z" / f"batch.{suffix}"
        path.parent.mkdir(parents=True)
        path.write_text("{}" if suffix == "json" else "<html></html>")
        out.append(path)
    return out


def test_old_windows_are_removed_recent_ones_and_other_models_kept(engine: sa.Engine, project: GxProject) -> None:
    for model in ("carloan", "other"):
        for start in (OLD, RECENT):
            _window(engine, model, start)
    old_files = _validation(project, "carloan", OLD) + _validation(project, "carloan_schema", OLD)
    kept_files = _validation(project, "carloan", RECENT) + _validation(project, "other", OLD)

    pruned = pipeline.prune(model_config(name="carloan"), engine, project, BEFORE)

    assert pruned == {"model": "carloan", "runs": 1, "metrics": 1, "validations": 2}
    assert [r["window_start"] for r in read_runs(engine, "carloan")] == [RECENT.replace(tzinfo=None)]
    assert {m["window_start"] for m in read_metrics(engine, "carloan")} == {RECENT.replace(tzinfo=None)}
    assert len(read_runs(engine, "other")) == 2  # another model's windows are its own business
    assert not any(p.exists() for p in old_files) and all(p.exists() for p in kept_files)
    index = (project.docs_dir / "mlmonitor" / "carloan.html").read_text()
    assert RECENT.strftime("%Y-%m-%d") in index and OLD.strftime("%Y-%m-%d") not in index
    # a re-run removes nothing more
    assert pipeline.prune(model_config(name="carloan"), engine, project, BEFORE)["runs"] == 0


def test_a_rerun_drops_the_pages_an_interrupted_prune_removed_from_the_index(
    engine: sa.Engine, project: GxProject
) -> None:
    old_files = _validation(project, "carloan", OLD)
    _validation(project, "carloan", RECENT)
    drop_missing_pages(project, "carloan")  # the index as validations left it: both windows
    index = project.model_index_path("carloan")
    assert len(json.loads(index.read_text())) == 2
    shutil.rmtree(old_files[0].parents[1])  # a prune removed the old run's folders, then stopped
    shutil.rmtree(old_files[1].parents[1])
    assert pipeline.prune(model_config(name="carloan"), engine, project, BEFORE)["validations"] == 0
    assert [name.rpartition(" ")[2][:10] for name in json.loads(index.read_text())] == [f"{RECENT:%Y-%m-%d}"]
    assert OLD.strftime("%Y-%m-%d") not in (project.docs_dir / "mlmonitor" / "carloan.html").read_text()


def test_validation_runs_are_removed_under_the_models_lock(
    engine: sa.Engine, project: GxProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A validation writing the model's index while retention removes its pages would add them back:
    every removal happens with the model's lock held (another open of the lock file cannot take it)."""
    _validation(project, "carloan", OLD)
    held: list[bool] = []
    rmtree = shutil.rmtree

    def observed(path: Path) -> None:
        with open(project.suites_dir / ".carloan.lock", "a") as other:
            try:
                fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                held.append(True)
            else:
                fcntl.flock(other, fcntl.LOCK_UN)
                held.append(False)
        rmtree(path)

    monkeypatch.setattr(retention.shutil, "rmtree", observed)
    assert pipeline.prune(model_config(name="carloan"), engine, project, BEFORE)["validations"] == 1
    assert held == [True, True]


def test_pruning_before_the_results_tables_exist_is_a_no_op(engine: sa.Engine, project: GxProject) -> None:
    assert pipeline.prune(model_config(name="carloan"), engine, project, BEFORE) == {
        "model": "carloan",
        "runs": 0,
        "metrics": 0,
        "validations": 0,
    }


def test_old_alerts_are_dropped_from_the_alerts_file(tmp_path: Path) -> None:
    path = tmp_path / "alerts.jsonl"
    lines = [
        json.dumps({"at": OLD.isoformat(), "kind": "alert", "model": "carloan"}),
        "not json: kept, it is not ours to judge\n".rstrip("\n"),
        json.dumps({"at": RECENT.isoformat(), "kind": "recovery", "model": "carloan"}),
    ]
    path.write_text("\n".join(lines) + "\n")
    assert prune_alerts(path, BEFORE) == 1
    assert path.read_text().splitlines() == lines[1:]
    assert prune_alerts(path, BEFORE) == 0 and prune_alerts(tmp_path / "none.jsonl", BEFORE) == 0
