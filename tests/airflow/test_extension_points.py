"""A check and a drift method of one's own, registered from this test module (no core file edited),
run through the real monitor DAG: their rows are persisted, named in the Slack message, exported to
Prometheus, shown on the dashboard and listed in the DAG docs."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from mlmonitor.checks.base import WindowCheck, WindowContext
from mlmonitor.checks.drift_methods import DriftMethod, register_drift_method, unregister_drift_method
from mlmonitor.checks.drift_stats import ColumnInput, shares
from mlmonitor.checks.registry import register_check, status_meanings, unregister_check
from mlmonitor.demo import INCIDENTS, START, write_demo
from mlmonitor.metrics import Metric
from mlmonitor.storage.results import read_metrics

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
DAY = INCIDENTS.region_shift_from - 1  # income has drifted for 9 days (+1.5 % a day), nothing else moved


def mean_gap(c: ColumnInput) -> float:
    """How far the binned mean moved, in training standard deviations."""

    def mean(counts: Any) -> float:
        return sum(s * a for s, a in zip(shares(counts), c.atoms, strict=True))

    return abs(mean(c.current) - mean(c.reference)) / c.scale if c.scale else 0.0


MEAN_GAP = DriftMethod(
    name="mean_gap",
    kinds=frozenset({"numeric"}),
    default_threshold=0.05,
    label="gap between the means (training std)",
    why="a throwaway method of the extension test: the move of the binned mean",
    measure=mean_gap,
)


def rows_seen(ctx: WindowContext) -> list[Metric]:
    return [
        Metric(
            check="health",
            column="",
            metric="rows_seen",
            value=float(ctx.rows),
            status="warning",
            threshold=1.0,
            details={"rule": "a throwaway check: always warns"},
        )
    ]


ROWS_SEEN = WindowCheck(
    name="rows_seen",
    family="health",
    summary="a throwaway check of the extension test",
    statuses={"warning": "the extension test's check ran"},
    run=rows_seen,
)


@pytest.fixture
def extensions() -> Iterator[None]:
    register_drift_method(MEAN_GAP)
    register_check(ROWS_SEEN)
    try:
        yield
    finally:
        unregister_check(ROWS_SEEN.name)
        unregister_drift_method(MEAN_GAP.name)


def test_a_registered_check_and_drift_method_run_end_to_end(
    extensions: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    airflow_db: Path,
    gx_root: Path,
    slack_server: Any,
    client: Any,
    token: str,
) -> None:
    from airflow.dag_processing.dagbag import DagBag

    models = tmp_path / "models"
    models.mkdir()
    yaml = (ROOT / "include/models/carloan.yaml").read_text()
    (models / "carloan.yaml").write_text(yaml + "drift:\n  columns:\n    income: {method: mean_gap}\n")
    monkeypatch.setenv("MLMONITOR_MODELS_DIR", str(models))
    db = tmp_path / "warehouse.db"
    monkeypatch.setenv("AIRFLOW_CONN_MLMONITOR_WAREHOUSE", f'{{"conn_type": "sqlite", "host": "{db}"}}')
    monkeypatch.setenv("AIRFLOW_CONN_MLMONITOR_SLACK", slack_server.webhook_connection())
    engine = sa.create_engine(f"sqlite:///{db}")
    write_demo(engine, days=[DAY])

    bag = DagBag(str(ROOT / "dags"))
    assert not bag.import_errors, bag.import_errors
    start = (START + dt.timedelta(days=DAY)).replace(tzinfo=dt.UTC)
    assert bag.get_dag("mlmonitor_carloan_baseline").test(logical_date=start).state == "success"
    monitor = bag.get_dag("mlmonitor_carloan")
    assert "`rows_seen`: a throwaway check of the extension test" in monitor.doc_md
    assert monitor.test(logical_date=start + dt.timedelta(days=1)).state == "success"  # warnings only

    # persisted: the method decides income's drift row, the check adds its own row
    rows = {(m["check_name"], m["column_name"], m["metric"]): m for m in read_metrics(engine, "carloan")}
    income = rows[("drift", "income", "mean_gap")]
    assert income["status"] == "warning" and income["value"] > 0.2
    assert '"why": "a throwaway method of the extension test' in income["details"]
    assert rows[("health", "", "rows_seen")]["status"] == "warning"
    assert ("drift", "income", "wasserstein") not in rows  # the override replaced the default method

    # the Slack message names both
    (alert,) = slack_server.bodies()
    assert "`income` (mean_gap): effect size" in alert["text"]
    assert "• health rows_seen: " in alert["text"]

    # Prometheus and the dashboard show them
    auth = {"Authorization": f"Bearer {token}"}
    exported = client.get("/mlmonitor/metrics", headers=auth).text
    assert 'check="drift",column="income",metric="mean_gap"' in exported
    assert 'check="health",column="",metric="rows_seen"' in exported
    page = client.get("/mlmonitor/models/carloan", headers=auth).text
    assert "gap between the means (training std)" in page and "rows_seen" in page  # the method's plain label
    assert "the extension test&#x27;s check ran" in client.get("/mlmonitor/", headers=auth).text
    assert "the extension test's check ran" in status_meanings()["warning"]
    engine.dispose()
