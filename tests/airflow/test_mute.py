"""Acknowledge and mute end to end: the `mlmonitor_ack` DAG (real dag.test, its trigger form as run conf)
stores a mute with the user who triggered it; the notify task (real Slack provider, recording server)
posts nothing for the muted windows, then posts again when the mute ends; an acknowledgement silences
the reminder of what it acknowledged but not what newly fails; the dashboard shows muted findings."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from mlmonitor.metrics import Metric, RunSummary
from mlmonitor.storage import mutes
from mlmonitor.storage.results import write_results
from tests.factories import drift_metric

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
T0 = dt.datetime(2024, 4, 1, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
MODEL_YAML = """\
name: carloan
training: {table: carloan_training}
serving: {table: carloan_serving_logs, timestamp_column: timestamp, id_column: id}
prediction: {column: y_pred_proba, task: classification}
start_date: 2024-03-01
alerts: {reminder_hours: 24, retries: 0}
"""


def _drift(column: str) -> Metric:
    return drift_metric(column)


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, gx_root: Path, slack_server: Any) -> Any:
    models = tmp_path / "models"
    models.mkdir()
    (models / "carloan.yaml").write_text(MODEL_YAML)
    monkeypatch.setenv("MLMONITOR_MODELS_DIR", str(models))
    monkeypatch.setenv(
        "AIRFLOW_CONN_MLMONITOR_WAREHOUSE", json.dumps({"conn_type": "sqlite", "host": str(tmp_path / "w.db")})
    )
    monkeypatch.setenv("AIRFLOW_CONN_MLMONITOR_SLACK", slack_server.webhook_connection())
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "")
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'w.db'}")
    yield engine
    engine.dispose()


def _window(day: int, metrics: list[Metric], engine: sa.Engine) -> str:
    """Persist a window as the persist task does, then run the notify task body on it."""
    from mlmonitor.config import get_model
    from mlmonitor.pipeline import summarize
    from mlmonitor.window import Window
    from mlmonitor_airflow import tasks

    window = Window(T0 + day * DAY, T0 + (day + 1) * DAY)
    summary: RunSummary = summarize(get_model("carloan"), window, 1200, {"1.0.0": 1200}, metrics, None, f"r{day}")
    write_results(engine, summary, metrics, T0)
    stats = {"metrics": [m.to_dict() for m in metrics]}
    return tasks.notify("carloan", summary.to_dict(), stats, {"metrics": []}, True, "mlmonitor_carloan")


FORM = {"model": "carloan", "action": "mute", "check": "any", "column": None, "until": None, "reason": ""}


def _ack(bag: Any, **form: Any) -> str:
    """Trigger `mlmonitor_ack` with the whole form (dag.test keeps the params of the DAG object between runs)."""
    run = bag.get_dag("mlmonitor_ack").test(run_conf={**FORM, **form})
    return str(run.state)


def test_mute_then_resume_acknowledge_and_dashboard(
    env: sa.Engine, slack_server: Any, airflow_db: Path, gx_root: Path
) -> None:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(str(ROOT / "dags"))
    assert not bag.import_errors, bag.import_errors
    until = (T0 + 2 * DAY).isoformat()
    reason = "known upstream change <b>"
    assert _ack(bag, action="mute", check="drift", column="income", until=until, reason=reason) == "success"
    (stored,) = mutes.active(env, "carloan", T0)
    assert (stored.kind, stored.check, stored.column, stored.until) == ("mute", "drift", "income", T0 + 2 * DAY)
    assert stored.set_by == "dag_test"  # dag_run.triggering_user_name: the logged-in user when triggered from the UI
    assert stored.reason == reason

    # days 0 and 1: income drifts, muted: recorded, not posted
    muted = "muted by dag_test until 2024-04-03 00:00 UTC: known upstream change <b>"
    assert _window(0, [_drift("income")], env) == f"not posted: alert not posted: {muted}"
    assert _window(1, [_drift("income")], env) == f"not posted: alert not posted: {muted}"
    assert slack_server.requests == []
    # day 2: the mute has ended: the alert is posted
    assert _window(2, [_drift("income")], env).startswith("alert sent to mlmonitor_slack")
    assert len(slack_server.requests) == 1

    # on call acknowledges it until day 6: the daily reminder is not posted ...
    assert _ack(bag, action="acknowledge", until=(T0 + 6 * DAY).isoformat(), reason="on it") == "success"
    assert _window(3, [_drift("income")], env).startswith("not posted: reminder not posted: acknowledged by")
    # ... but what newly fails is
    assert _window(4, [_drift("income"), _drift("region")], env).startswith("change sent")
    assert len(slack_server.requests) == 2
    change = slack_server.bodies()[1]["text"]
    assert "*Newly failing (1)*\ndrift:psi(region)" in change
    acknowledged = "acknowledged by dag_test until 2024-04-07 00:00 UTC: on it"
    assert change.endswith(f"*Muted (still failing) (1)*\n• `drift:psi(income)`: {acknowledged}")

    # a finding outside the acknowledgement without a mute: an error in the form is refused
    assert _ack(bag, action="mute", column="income") == "failed"  # no 'until'
    assert len(mutes.active(env, "carloan", T0)) == 2

    # the dashboard: the muted window's finding shows who muted it, until when and why
    from mlmonitor.ui import dashboard

    page = dashboard.load_window(env, "carloan", T0.replace(tzinfo=None))  # as the UI route passes it
    assert page is not None
    (finding,) = page.view.findings
    # both silence it: the acknowledgement (newest first) and the mute in force when it was notified
    assert finding.muted == f"{acknowledged}; {muted}"
    html = dashboard.render_window(page)
    shown = f"🔕 {acknowledged}; {muted.replace('<b>', '&lt;b&gt;')}"
    assert shown in html
    model_page = dashboard.render_model(dashboard.load_model(env, "carloan", ""))
    assert f"🔕 {acknowledged}" in model_page  # latest window, income
    assert model_page.count("🔕") == 1  # region (newly failing) is not acknowledged


def test_the_form_records_the_user_who_triggered_it(
    env: sa.Engine, airflow_db: Path, gx_root: Path, client: Any, token: str
) -> None:
    """Triggered through the REST API (what the UI's trigger form calls), the run carries the logged-in
    user, which the task stores as who set the mute."""
    from airflow.dag_processing.dagbag import DagBag
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    bag = DagBag(str(ROOT / "dags"))
    assert _ack(bag, action="mute", until=(T0 + DAY).isoformat()) == "success"  # also puts the DAG in the db
    form = {**FORM, "until": (T0 + 3 * DAY).isoformat(), "reason": "from the UI"}
    response = client.post(
        "/api/v2/dags/mlmonitor_ack/dagRuns",
        json={"logical_date": None, "conf": form},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["triggering_user_name"] == "admin"
    with create_session() as session:
        run = session.query(DagRun).filter(DagRun.run_id == response.json()["dag_run_id"]).one()
        assert run.triggering_user_name == "admin"
    # the task body with what that run's context gives it
    from mlmonitor_airflow import ack

    ack.record(form, run.triggering_user_name, dt.datetime.now(dt.UTC))
    assert [m.set_by for m in mutes.active(env, "carloan", T0 + DAY)] == ["admin"]
