"""Slack through real dag.test(): the failure callback, the alert, no duplicate on rerun, a change."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from mlmonitor.demo import INCIDENTS, START, write_demo
from mlmonitor.storage import alert_state
from mlmonitor.window import Window

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
CLEAN, INCIDENT = 0, INCIDENTS.quality_incident


def _day(day: int) -> dt.datetime:
    return (START + dt.timedelta(days=day)).replace(tzinfo=dt.UTC)


def _monitor(bag: Any, day: int) -> Any:
    return bag.get_dag("mlmonitor_carloan").test(logical_date=_day(day + 1))


def _headers(server: Any) -> list[str]:
    return [body["blocks"][0]["text"]["text"] for body in server.bodies()]


def test_webhook_alerts_through_dag_test(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, airflow_db: Path, gx_root: Path, slack_server: Any
) -> None:
    from airflow.dag_processing.dagbag import DagBag

    path = tmp_path / "warehouse.db"
    monkeypatch.setenv("AIRFLOW_CONN_MLMONITOR_WAREHOUSE", f'{{"conn_type": "sqlite", "host": "{path}"}}')
    engine = sa.create_engine(f"sqlite:///{path}")
    write_demo(engine, days=[CLEAN, INCIDENT, INCIDENT + 1])
    bag = DagBag(str(ROOT / "dags"))
    assert not bag.import_errors, bag.import_errors

    # no baseline yet, no Slack connection: `stats` fails and its on_failure_callback writes the local file
    assert _monitor(bag, CLEAN).state == "failed"
    (record,) = [json.loads(x) for x in (gx_root / "gx/uncommitted/alerts.jsonl").read_text().splitlines()]
    assert record["kind"] == "task_failure" and "mlmonitor_carloan.stats" in record["text"]

    # with the connection, the same failure goes to Slack with the error and the log link
    monkeypatch.setenv("AIRFLOW_CONN_MLMONITOR_SLACK", slack_server.webhook_connection())
    assert _monitor(bag, CLEAN).state == "failed"
    assert _headers(slack_server) == ["💥 TASK FAILED · carloan: mlmonitor_carloan.stats"]
    failure = slack_server.bodies()[0]["blocks"]
    assert "baseline" in failure[1]["text"]["text"]
    assert failure[2]["text"]["text"].startswith("<http://127.0.0.1:8080/dags/mlmonitor_carloan/runs/")
    assert "/tasks/stats" in failure[2]["text"]["text"]

    assert bag.get_dag("mlmonitor_carloan_baseline").test(logical_date=_day(0)).state == "success"
    # the incident: the run shows red (gate), one alert is posted, and no failure message for the gate
    assert _monitor(bag, INCIDENT).state == "failed"
    assert _headers(slack_server)[1:] == ["🚨 CRITICAL · carloan: ALERT"]
    alert = slack_server.bodies()[1]
    assert "gig_worker" in alert["text"] and "credit_score" in alert["text"]
    assert "Data Docs>" in alert["blocks"][-1]["text"]["text"]
    # rerunning the window posts nothing more
    assert _monitor(bag, INCIDENT).state == "failed"
    assert len(slack_server.requests) == 2
    # the next day the expectations pass but drift remains: a change, a warning, since the incident
    assert _monitor(bag, INCIDENT + 1).state == "success"
    assert _headers(slack_server)[2:] == ["⚠️ WARNING · carloan: WARNING, what fails changed"]
    sent = alert_state.for_window(engine, "carloan", Window(_day(INCIDENT + 1), _day(INCIDENT + 2)))[0]
    assert sent is not None and (sent.kind, sent.since) == ("change", _day(INCIDENT))
    engine.dispose()
