"""Task bodies: resolve connections, call the core, return small typed JSON summaries for XCom.

Imported by tasks at run time only; the DAG file never imports this module at parse time.
"""

from __future__ import annotations

import datetime as dt
import logging
from functools import partial
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from mlmonitor import pipeline
from mlmonitor.alerting.message import Links
from mlmonitor.alerting.notify import deliver_pending, notify_window
from mlmonitor.config import AlertsConfig, ModelConfig, get_model, load_models_and_errors
from mlmonitor.errors import WarehouseUnavailable
from mlmonitor.metrics import RunSummary
from mlmonitor.project import default_project
from mlmonitor.ui.links import airflow_run_url, dashboard_url, docs_url, window_url
from mlmonitor.window import Window, is_adhoc, last_complete_interval, window_from_params
from mlmonitor_airflow.connections import warehouse_engine
from mlmonitor_airflow.notifiers import destinations_for
from mlmonitor_airflow.payloads import (
    RescorePayload,
    RetentionPayload,
    StatsPayload,
    SummaryPayload,
    ValidationPayload,
    WindowPayload,
    metric_payloads,
    metrics_of,
    summary_of,
    summary_payload,
)

log = logging.getLogger(__name__)


def _window(data: WindowPayload) -> Window:
    return Window(dt.datetime.fromisoformat(data["start"]), dt.datetime.fromisoformat(data["end"]))


def _results_engine(model: ModelConfig) -> Engine:
    return warehouse_engine(model.results_conn_id or model.warehouse_conn_id)


def with_overrides(model: ModelConfig, params: dict[str, Any]) -> ModelConfig:
    """The model config with this run's trigger-form overrides (drift_threshold) applied."""
    threshold = params.get("drift_threshold")
    if threshold is None:
        return model
    return model.model_copy(update={"drift": model.drift.model_copy(update={"threshold": float(threshold)})})


def stats(
    model_name: str,
    params: dict[str, Any],
    interval_start: dt.datetime | None,
    interval_end: dt.datetime | None,
    run_after: dt.datetime,
) -> StatsPayload:
    """Window from params or data interval, schema check, volume, and every window check.

    A run triggered without a logical date has no data interval: it monitors the last complete
    schedule interval before it was triggered, unless the params give the window."""
    model = with_overrides(get_model(model_name), params)
    if interval_start is None or interval_end is None:
        interval_start, interval_end = last_complete_interval(model.schedule, run_after)
    window = window_from_params(params.get("window_start"), params.get("window_end"), interval_start, interval_end)
    from_form = bool(params.get("window_start") or params.get("window_end"))
    adhoc = from_form and not params.get("as_history") and is_adhoc(model.schedule, window)
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
        "metrics": metric_payloads(metrics),
        "adhoc": adhoc,
    }


def validate(model_name: str, stats_result: StatsPayload) -> ValidationPayload:
    """GE validation of the window (skipped for an empty window, which persists as no_data)."""
    from mlmonitor.checks.validation import validate_window
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
    return {"metrics": metric_payloads(outcome.metrics), "docs_path": outcome.docs_path, "success": outcome.success}


def persist(model_name: str, stats_result: StatsPayload, validation: ValidationPayload, run_id: str) -> SummaryPayload:
    """Write run and metric rows for the window, replacing earlier ones (idempotent reruns)."""
    model = get_model(model_name)
    summary = pipeline.persist(
        model,
        _results_engine(model),
        _window(stats_result["window"]),
        stats_result["rows"],
        stats_result["versions"],
        metrics_of(stats_result["metrics"], validation["metrics"]),
        validation["docs_path"],
        run_id,
        dt.datetime.now(dt.UTC),
        adhoc=stats_result.get("adhoc", False),
    )
    log.info("persisted %s: %s", summary.status, summary.message)
    return summary_payload(summary)


def notify(
    model_name: str,
    summary_data: SummaryPayload,
    stats_result: StatsPayload,
    validation: ValidationPayload,
    enabled: bool,
    dag_id: str,
) -> str:
    """Post the alert, change, reminder or recovery of a persisted window (`alerting.notify`):
    to Slack when the severity's connection exists, else the local alerts file."""
    if not enabled:
        log.info("notify=false for this run: nothing sent, nothing recorded")
        return "notify=false for this run: nothing sent, nothing recorded"
    model = get_model(model_name)
    summary = summary_of(summary_data)
    notified = notify_window(
        model,
        summary,
        metrics_of(stats_result["metrics"], validation["metrics"]),
        _results_engine(model),
        _links(summary, dag_id),
        partial(destinations_for, model.name, model.alerts),
    )
    log.info("%s", notified)
    return str(notified)


def retention_days() -> int:
    """[mlmonitor] retention_days (env AIRFLOW__MLMONITOR__RETENTION_DAYS): days of windows to keep; 0 keeps all."""
    from airflow.sdk.configuration import conf

    return int(conf.getint("mlmonitor", "retention_days", fallback=0))


def retention(model_names: list[str], interval_end: dt.datetime) -> RetentionPayload:
    """Remove what is kept of windows that started more than retention_days before `interval_end`
    (the run's data interval end, so a re-run removes the same things): every model's results rows,
    validation results and Data Docs pages, then the alerts file's older alerts. A model whose
    results database fails is reported after the others were pruned."""
    from mlmonitor.storage.retention import prune_alerts

    days = retention_days()
    if days <= 0:
        log.info("[mlmonitor] retention_days is %d: everything is kept", days)
        return {"retention_days": days, "before": None, "models": [], "alerts": 0}
    before = interval_end - dt.timedelta(days=days)
    project = default_project()
    pruned, failed = [], []
    for name in model_names:
        model = get_model(name)
        try:
            pruned.append(pipeline.prune(model, _results_engine(model), project, before))
        except SQLAlchemyError as exc:
            log.error("retention of %s failed: %s", name, exc)
            failed.append(name)
            continue
        log.info("%s: windows before %s removed: %s", name, before.isoformat(), pruned[-1])
    alerts = prune_alerts(project.alerts_file, before)
    log.info("%d alert(s) written before %s removed from %s", alerts, before.isoformat(), project.alerts_file)
    if failed:
        raise WarehouseUnavailable(f"retention could not reach the results database of {', '.join(failed)}")
    return {"retention_days": days, "before": before.isoformat(), "models": pruned, "alerts": alerts}


def deliver_grouped() -> str:
    """The grouped delivery of one tick: post every queued message of the models with
    `alerts.group_threshold`, one message per channel when enough are queued for it (`alerting.notify`)."""
    models = {m.name: m for m in load_models_and_errors()[0]}
    grouped = [m for m in models.values() if m.alerts.group_threshold is not None]
    databases = {m.results_conn_id or m.warehouse_conn_id for m in grouped}
    done = []
    for conn_id in sorted(databases):
        delivered = deliver_pending(
            warehouse_engine(conn_id),
            lambda model, severity: destinations_for(
                model, models[model].alerts if model in models else AlertsConfig(), severity
            ),
            lambda model: models[model].alerts.group_threshold if model in models else None,
        )
        log.info("%s: %s", conn_id, delivered)
        done.append(f"{conn_id}: {delivered}")
    return "; ".join(done) or "no model groups its alerts"


def _ui_base() -> str:
    from airflow.sdk.configuration import conf

    return conf.get("api", "base_url", fallback="") or ""


def _links(summary: RunSummary, dag_id: str) -> Links:
    """Absolute URLs from the Airflow config `[api] base_url` (the UI plugin serves them)."""
    base = _ui_base()
    if not base:
        return Links()
    return Links(
        docs=docs_url(base, summary.docs_path) if summary.docs_path else None,
        dashboard=dashboard_url(base, summary.model),
        run=airflow_run_url(base, dag_id, summary.airflow_run_id) if summary.airflow_run_id else None,
    )


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


def derive(model_name: str) -> pipeline.Derived:
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
    for warning in result["warnings"]:
        log.warning("training data of %s: %s", model.name, warning)
    return result


def rescore(model_name: str, interval_end: dt.datetime, lookback: int) -> RescorePayload:
    """Re-score the recent windows with the labels arrived by `interval_end` (performance rows only;
    a window whose quality regressed takes the status alert); logs one line per window."""
    model = get_model(model_name)
    engine = warehouse_engine(model.warehouse_conn_id)
    now = dt.datetime.now(dt.UTC)
    scored = pipeline.rescore(model, engine, _results_engine(model), default_project(), interval_end, lookback, now)
    base = _ui_base()
    out: RescorePayload = {"windows": [], "alerts": []}
    for r in scored:
        coverage = next(m.value for m in r.metrics if m.metric == "label_coverage")
        bad = r.regressed
        out["windows"].append(
            {
                "start": r.window.start.isoformat(),
                "coverage": coverage,
                "alerts": len(bad),
                "status": r.status,
                "previous_status": r.previous_status,
            }
        )
        if bad:
            out["alerts"].append(
                f"window {r.window.start:%Y-%m-%d %H:%M}: "
                + ", ".join(
                    f"{m.metric} {m.value:.4g} (limit {m.threshold:.4g})"
                    for m in bad
                    if m.value is not None and m.threshold is not None
                )
                + (f" - {window_url(base, model.name, r.window.start)}" if base else "")
            )
        change = f"; window status {r.previous_status} -> {r.status}" if r.status != r.previous_status else ""
        log.info(
            "%s %s: label coverage %.1f%%, %s%s",
            model.name,
            r.window.label,
            100 * (coverage or 0),
            "regressed: " + ", ".join(m.metric for m in bad) if bad else "no regression",
            change,
        )
    log.info("re-scored %d window(s) as of %s; %d regressed", len(scored), interval_end, len(out["alerts"]))
    return out


def labels_gate(model_name: str, result: RescorePayload) -> str:
    """Fail (no retries) when a re-scored window's quality regressed: the log names every window and metric
    that regressed, with the window's dashboard entry, and which windows changed status."""
    from airflow.sdk.exceptions import AirflowFailException

    for w in result["windows"]:
        if w["status"] != w["previous_status"]:
            log.warning("window %s: status %s -> %s", w["start"], w["previous_status"], w["status"])
    if result["alerts"]:
        for line in result["alerts"]:
            log.error("quality regressed: %s", line)
        raise AirflowFailException(f"{model_name}: prediction quality regressed: " + "; ".join(result["alerts"]))
    message = f"{len(result['windows'])} window(s) re-scored, no regression"
    log.info("%s", message)
    return message


def gate_message(summary: SummaryPayload) -> str | None:
    """Why the run must show red, or None when it may pass."""
    if summary["status"] in {"alert", "error"}:
        return (
            f"{summary['model']} window {summary['window_start']} -> {summary['window_end']}: "
            f"{summary['status'].upper()}: {summary['message']}"
        )
    return None
