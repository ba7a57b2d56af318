"""Derivation racing validation: a monitor run reads the suites and the baseline while the baseline DAG
rewrites them (another process, as on another worker). Every read must see whole files, and the two
suites of one derivation; GE must never write a suite back (tests/integration/test_validation_scale.py).
"""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from mlmonitor import pipeline
from mlmonitor.gx_runtime import great_expectations
from mlmonitor.project import GxProject
from mlmonitor.storage.baselines import Baseline, load_baseline
from mlmonitor.storage.suites import read_suites
from mlmonitor.warehouse import resolve_tables
from tests.integration.test_validation import _columns, _model, _rows, _table

pytestmark = pytest.mark.integration
SECONDS = 3.0


def _derive_again_and_again(root: str, variants: list[str], types: dict[str, Any], version: str, until: float) -> None:
    """The baseline DAG's writes, alternating between two trainings, as fast as they go."""
    project, model = GxProject(Path(root)), _model()
    baselines = [Baseline.model_validate_json(v) for v in variants]
    i = 0
    while time.monotonic() < until:
        pipeline.store_derivation(project, model, baselines[i % 2], types, version)
        i += 1


def test_validation_reads_whole_files_of_one_derivation(sqlite_database: dict[str, str], project: GxProject) -> None:
    engine = sa.create_engine(sqlite_database["url"])
    _table(engine, "training", _rows(), _columns())
    _table(engine, "serving", _rows(), _columns())
    model, version = _model(), great_expectations().__version__
    pipeline.derive(model, engine, project, version)
    baseline = load_baseline(project.baseline_path(model.name), model.name)
    # two trainings whose suites and baselines differ (in size too: a torn read is not valid JSON)
    variants = [
        baseline.model_copy(update={"training_table": "training_a"}),
        baseline.model_copy(update={"training_table": "training_" + "b" * 5000}),
    ]
    types = pipeline.serving_types(model, engine, resolve_tables(model, engine))
    until = time.monotonic() + SECONDS
    writer = multiprocessing.get_context("fork").Process(
        target=_derive_again_and_again,
        args=(str(project.root), [v.model_dump_json() for v in variants], types, version, until),
    )
    writer.start()
    reads, seen = 0, set()
    try:
        while writer.is_alive() or reads == 0:
            suite, schema = read_suites(project.suites_dir, model.name)  # as validate_window reads them
            assert suite is not None and schema is not None
            derived_from = {s["meta"]["mlmonitor"]["derived_from"] for s in (suite, schema)}
            assert len(derived_from) == 1, f"the suites of two derivations were read together: {derived_from}"
            seen |= derived_from
            load_baseline(project.baseline_path(model.name), model.name)  # as the stats task reads it
            reads += 1
    finally:
        writer.join(10)
    assert writer.exitcode == 0
    assert reads > 20 and {"training_a", "training_" + "b" * 5000} <= seen, (reads, len(seen))
    engine.dispose()
