"""Task bodies: resolve connections, call the core, return small JSON summaries for XCom.

Imported by tasks at run time only; the DAG file never imports this module at parse time.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from mlmonitor import pipeline
from mlmonitor.alerts import alert_text, append_local, should_alert
from mlmonitor.config import ModelConfig, get_model
from mlmonitor.metrics import Metric, RunSummary
from mlmonitor.project import default_project
from mlmonitor.window import Window, window_from_params
from mlmonitor_airflow.connections import has_connection, warehouse_engine

log = logging.getLogger(__name__)


def _window(data: dict[str, str]) -> Window:
    return Window(dt.datetime.fromisoformat(data["start"]), dt.datetime.fromisoformat(data["end"]))


def _results_engine(model: ModelConfig) -> Any:
    return warehouse_engine(model.results_conn_id or model.warehouse_conn_id)


def stats(
    model_name: str, params: dict[str, Any], interval_start: dt.datetime, interval_end: dt.datetime
) -> dict[str, Any]:
    """Window from params or data interval, schema check, volume, statistics and drift."""
    model = get_model(model_name)
    window = window_from_params(params.get("window_start"), params.get("window_end"), interval_start, interval_end)
    engine = warehouse_engine(model.warehouse_conn_id)
    prepared = pipeline.prepare(model, engine, default_project(), window)
    metrics = pipeline.analyse(model, engine, _results_engine(model), prepared, window, params.get("columns") or None)
    log.info(
        "%s %s: %d rows, versions %s, %d metrics",
        model.name,
        window.label,
        prepared.rows,
        prepared.versions,
        len(metrics),
    )
    return {
        "window": {"start": window.start.isoformat(), "end": window.end.isoformat()},
        "rows": prepared.rows,
        "versions": prepared.versions,
        "metrics": [m.to_dict() for m in metrics],
    }


def validate(model_name: str, stats_result: dict[str, Any]) -> dict[str, Any]:
    """GE validation of the window (skipped for an empty window, which persists as no_data)."""
    from mlmonitor.validation import validate_window
    from mlmonitor.warehouse import resolve_tables

    if not stats_result["rows"]:
        log.warning("empty window: nothing to validate; the run is recorded as no_data")
        return {"metrics": [], "docs_path": None, "success": None}
    model = get_model(model_name)
    engine = warehouse_engine(model.warehouse_conn_id)
    outcome = validate_window(
        default_project(), model, engine, resolve_tables(model, engine), _window(stats_result["window"])
    )
    failed = [m for m in outcome.metrics if m.status != "ok"]
    log.info(
        "validation %s: %d expectations, %d failed; Data Docs page %s",
        "passed" if outcome.success else "FAILED",
        len(outcome.metrics),
        len(failed),
        outcome.docs_path,
    )
    return {
        "metrics": [m.to_dict() for m in outcome.metrics],
        "docs_path": outcome.docs_path,
        "success": outcome.success,
    }


def persist(model_name: str, stats_result: dict[str, Any], validation: dict[str, Any], run_id: str) -> dict[str, Any]:
    """Write run and metric rows for the window, replacing earlier ones (idempotent reruns)."""
    model = get_model(model_name)
    metrics = [Metric.from_dict(m) for m in stats_result["metrics"] + validation["metrics"]]
    summary = pipeline.persist(
        model,
        _results_engine(model),
        _window(stats_result["window"]),
        stats_result["rows"],
        stats_result["versions"],
        metrics,
        validation["docs_path"],
        run_id,
        dt.datetime.now(dt.UTC),
    )
    log.info("persisted %s: %s", summary.status, summary.message)
    return summary.to_dict()


def notify(
    model_name: str,
    summary_data: dict[str, Any],
    stats_result: dict[str, Any],
    validation: dict[str, Any],
    enabled: bool,
) -> str:
    """Post the alert (after results are persisted): Slack when its connection exists, else log + local file."""
    summary = RunSummary(**summary_data)
    if not should_alert(summary):
        return "healthy: nothing to send"
    if not enabled:
        return "alerting, but notify=false for this run"
    model = get_model(model_name)
    metrics = [Metric.from_dict(m) for m in stats_result["metrics"] + validation["metrics"]]
    project = default_project()
    links = {"Data Docs": str(project.docs_dir / summary.docs_path)} if summary.docs_path else {}
    text = alert_text(summary, metrics, links)
    if has_connection(model.alerts.slack_conn_id):
        _post_slack(model, text)
        return f"posted to Slack connection {model.alerts.slack_conn_id}"
    log.warning(
        "no Slack connection %r: alert written to %s\n%s", model.alerts.slack_conn_id, project.alerts_file, text
    )
    append_local(project.alerts_file, summary, text, dt.datetime.now(dt.UTC))
    return f"written to {project.alerts_file}"


def _post_slack(model: ModelConfig, text: str) -> None:
    from airflow.sdk import BaseHook

    conn_id = model.alerts.slack_conn_id
    if BaseHook.get_connection(conn_id).conn_type == "slackwebhook":
        from airflow.providers.slack.hooks.slack_webhook import SlackWebhookHook

        SlackWebhookHook(slack_webhook_conn_id=conn_id).send(text=text)
    else:
        from airflow.providers.slack.hooks.slack import SlackHook

        SlackHook(slack_conn_id=conn_id).client.chat_postMessage(channel=model.alerts.channel, text=text)


def baseline_needed(model_name: str, run_type: str, only_if_changed: bool) -> bool:
    """Whether to re-derive: always on demand or on an Asset update; on the schedule (or when
    asked) only if the training table's fingerprint differs from the stored baseline's."""
    if run_type in {"manual", "asset_triggered"} and not only_if_changed:
        log.info("%s run: re-deriving", run_type)
        return True
    log.info("run type %s, only_if_changed=%s: checking the training data", run_type, only_if_changed)
    model = get_model(model_name)
    changed, reason = pipeline.training_changed(model, warehouse_engine(model.warehouse_conn_id), default_project())
    log.info("%s: %s", "re-deriving" if changed else "skipping", reason)
    return changed


def derive(model_name: str) -> dict[str, Any]:
    """Profile the training table; write the drift baseline and the suites."""
    import great_expectations as gx

    model = get_model(model_name)
    result = pipeline.derive(model, warehouse_engine(model.warehouse_conn_id), default_project(), gx.__version__)
    log.info(
        "baseline of %s from %s: %d + %d expectations (suites %s); fingerprint %s",
        model.name,
        model.training.table,
        result["expectations"],
        result["schema_expectations"],
        "changed" if result["suite_changed"] else "unchanged",
        result["fingerprint"],
    )
    return result


def gate_message(summary: dict[str, Any]) -> str | None:
    """Why the run must show red, or None when it may pass."""
    if summary["status"] in {"alert", "error"}:
        return (
            f"{summary['model']} window {summary['window_start']} -> {summary['window_end']}: "
            f"{summary['status'].upper()}: {summary['message']}"
        )
    return None
