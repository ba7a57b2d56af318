"""Data Docs, metric details and alerts show at most `validation.sample_values` raw serving values
per failed expectation (real GE validation and Data Docs on SQLite)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import sqlalchemy as sa

from mlmonitor.cli import run_window
from mlmonitor.project import GxProject
from mlmonitor.storage.results import read_metrics
from tests.badinput import test_bad_input as matrix  # the tiny model and its table loader

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("limit", [3, 0])
def test_raw_values_shown_are_limited(sqlite_database: dict[str, str], gx_root: Path, limit: int) -> None:
    engine = sa.create_engine(sqlite_database["url"])
    matrix.load(engine)
    project = GxProject(gx_root)
    model = matrix.derive(engine, project, matrix.tiny_model(validation={"sample_values": limit}))
    # 60 distinct values no training row had, each a "customer" string that must not be exposed
    matrix.load(engine, serving=[{**r, "city": f"secret-city-{r['id'] % 60:02d}"} for r in matrix.serving_rows()])
    summary = run_window(model, engine, matrix.DAY, None)
    assert summary.status == "alert"
    (failed,) = [x for x in read_metrics(engine, "tiny") if x["metric"] == "expect_column_values_to_be_in_set"]
    details = json.loads(failed["details"])
    assert details["unexpected_count"] == 240  # the counts are kept
    assert len(details.get("partial_unexpected_counts", [])) <= limit
    assert len(set(re.findall(r"secret-city-\d\d", json.dumps(details)))) <= limit
    # the window's page (the <model>_schema suite's page holds column types, no values)
    (page,) = [
        p
        for p in project.docs_dir.rglob("*.html")
        if "validations" in p.parts and not any(part.endswith("_schema") for part in p.parts)
    ]
    shown = set(re.findall(r"secret-city-\d\d", page.read_text()))
    assert len(shown) <= limit, f"Data Docs page shows {len(shown)} raw values: {sorted(shown)}"
    assert bool(shown) == bool(limit)  # the page does show samples when allowed: the check is not vacuous
    engine.dispose()
