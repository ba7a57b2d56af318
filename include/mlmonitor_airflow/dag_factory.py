"""Build `mlmonitor_<name>` and `mlmonitor_<name>_baseline` for every model YAML.

Parse time does nothing but read YAML: no connections, no Variables, no database, no heavy
imports (task bodies import mlmonitor_airflow.tasks when they run).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from airflow.sdk import (
    DAG,
    Asset,
    AssetOrTimeSchedule,
    CronDataIntervalTimetable,
    CronTriggerTimetable,
    Param,
    task,
)
from airflow.sdk.definitions.callback import SyncCallback
from airflow.sdk.definitions.deadline import DeadlineAlert, DeadlineReference

from mlmonitor.config import ModelConfig
from mlmonitor.names import baseline_dag_id, labels_dag_id, monitor_dag_id, training_asset_name
from mlmonitor.pipeline import Derived
from mlmonitor.ui.links import dashboard_url
from mlmonitor_airflow.extra_links import DataDocsLink
from mlmonitor_airflow.payloads import (
    RescorePayload,
    RetentionPayload,
    StatsPayload,
    SummaryPayload,
    ValidationPayload,
)
from mlmonitor_airflow.slack import FailureNotifier

MONITOR_DOC = """\
### Monitor `{name}`

{description}

**[Open the monitoring dashboard of `{name}`]({dashboard})**: status, why, since when, drift,
quality and every window with its evidence.

Each run checks one window of serving logs from `{serving}`: the data interval
`[data_interval_start, data_interval_end)` of a scheduled run, or the `window_start` /
`window_end` given in the trigger form.

1. **stats**: counts rows and model versions, then runs every window check (SQL aggregates in
   the warehouse; no raw rows leave it):
{checks}
2. **validate**: runs the Great Expectations suite `{name}` on the window and updates Data Docs.
3. **persist**: writes `mlmonitor_runs` / `mlmonitor_metrics` (re-runs replace the window's rows).
4. **notify**: posts to Slack connection `{slack}` (or the log and a local file) on the first
   alerting window, when what fails changes, and on recovery; never twice for one window.
5. **gate**: fails, without retries, when the window is alerting, so the run shows red.

Derive the suite and baseline first with the DAG `{baseline_dag}`.

#### What a window's status means
{statuses}
"""

BASELINE_DOC = """\
### Baseline of `{name}`

[Monitoring dashboard of `{name}`]({dashboard})

Profiles the training table `{training}` with SQL aggregates and writes
* the Great Expectations suites `{name}` (each window's rows) and `{name}_schema` (the serving
  table's column types): reviewable JSON; expectations marked `manual` are kept,
* the drift baseline (frozen bins, top-K categories, null rates, training fingerprint).

It runs
* when you trigger it (re-derives now),
* when the Asset `{asset}` is updated (add it to the `outlets` of your training task),
* on the schedule `{refresh}` (`training.refresh_schedule`), where **training_changed** compares the
  training table's fingerprint (rows, newest timestamp, content hash) with the stored baseline and
  skips the derivation when nothing changed.
"""


LABELS_DOC = """\
### Delayed labels of `{name}`

[Quality of `{name}` on the monitoring dashboard]({dashboard}#quality)

Ground truth arrives late in `{labels}`. Each run re-scores the last `lookback_windows` windows of
`{monitor_dag}` (default {lookback}) that end by the run's data interval end, with the labels
arrived by then: label coverage and {kind} metrics against the training baseline.

1. **rescore**: replaces only the `performance` rows of those windows in `mlmonitor_metrics`
   (the other checks' rows stay; re-runs never duplicate).
2. **gate**: fails, without retries, when a window's quality regressed beyond `labels.tolerance`,
   so the run shows red; its log and message name the windows and metrics (with each window's
   dashboard entry) and go to the critical Slack route (or the local alerts file), like any task
   failure. A regressed window's status turns `alert` in `mlmonitor_runs` (its monitor status kept).
"""


T = TypeVar("T")
RETENTION_DAG_ID = "mlmonitor_retention"


def fail_fast(fn: Callable[..., T], *args: Any) -> T:
    """Run a task body; bad config, bad params, a missing table or baseline fail at once, without
    retries (retrying cannot fix them). An unreachable warehouse raises as-is and is retried."""
    from airflow.sdk.exceptions import AirflowFailException

    from mlmonitor.errors import MlmonitorError, WarehouseUnavailable

    try:
        return fn(*args)
    except WarehouseUnavailable:
        raise
    except MlmonitorError as exc:
        raise AirflowFailException(str(exc)) from exc


def monitor_doc(model: ModelConfig) -> str:
    """The monitor DAG's docs; the checks and what each status means come from their declarations."""
    from mlmonitor.checks.registry import documented_checks, status_meanings, window_checks

    checks = "\n".join(f"   - `{c.name}`: {c.summary}" for c in window_checks())
    statuses = "\n".join(f"- `{s}`: " + "; ".join(m) for s, m in status_meanings(documented_checks()).items())
    return MONITOR_DOC.format(
        name=model.name,
        description=model.description,
        serving=model.serving.table,
        slack=model.alerts.slack_conn_id,
        checks=checks,
        statuses=statuses,
        baseline_dag=baseline_dag_id(model.name),
        dashboard=dashboard_link(model.name),
    )


def dashboard_link(model: str) -> str:
    """The model's dashboard as a DAG-docs link: relative to Airflow's <base href>, so it works under an
    [api] base_url sub-path and from every page (Airflow opens doc links in a new tab)."""
    return dashboard_url("", model).lstrip("/")


def _model_dag_args(model: ModelConfig, *kind: str) -> dict[str, Any]:
    """What every DAG of a model shares: start, no catch-up, one run at a time, owner and retries, tags."""
    return {
        "start_date": dt.datetime.combine(model.start_date, dt.time(), tzinfo=dt.UTC),
        "catchup": False,
        "max_active_runs": 1,
        "default_args": {
            "owner": model.owner,
            "retries": model.retries,
            "retry_delay": dt.timedelta(minutes=2),
            "retry_exponential_backoff": True,
        },
        "tags": ["mlmonitor", f"model:{model.name}", *kind],
    }


def _on_failure(model: ModelConfig) -> dict[str, Any]:
    """Task arguments that report a failed task (warehouse down, bad config) to Slack or the local file.
    Not on `gate`, whose failure is the alert itself, already posted by `notify`."""
    return {"on_failure_callback": [FailureNotifier(model.name, model.alerts)]}


def monitor_params() -> dict[str, Param]:
    """Trigger-form fields of the monitor DAG; every one is optional (a scheduled run uses none)."""
    return {
        "window_start": Param(
            None,
            type=["null", "string"],
            format="date-time",
            title="Window start",
            description="Leave empty to check the run's own data interval. To check another period of "
            "serving logs (e.g. yesterday afternoon after an incident), give its first instant; without a "
            "time zone the time is read as UTC.",
        ),
        "window_end": Param(
            None,
            type=["null", "string"],
            format="date-time",
            title="Window end",
            description="Leave empty to use the end of the run's data interval. Exclusive: predictions "
            "logged at exactly this instant belong to the next window.",
        ),
        "notify": Param(
            True,
            type=["null", "boolean"],
            title="Send alerts",
            description="Untick to record results without posting to Slack, e.g. when re-checking old "
            "windows. Results, Data Docs and the dashboard are updated either way.",
        ),
        "columns": Param(
            None,
            type=["null", "array"],
            items={"type": "string"},
            title="Only these features",
            description="Feature columns to test for drift, one per line (names as in the serving table). "
            "Empty means every monitored feature. Validation always checks all expectations.",
        ),
        "drift_threshold": Param(
            None,
            type=["null", "number"],
            exclusiveMinimum=0,
            title="Drift threshold (override)",
            description="Leave empty to use the model YAML's drift thresholds. When set, this one threshold "
            "replaces every column's effect-size threshold for this run (Wasserstein in training standard "
            "deviations for numeric columns, share points for categorical ones, NULL-share change); a column "
            "drifts when its effect reaches it and the change is statistically significant. "
            "Raise it to see only large shifts in this run.",
        ),
        "as_history": Param(
            False,
            type=["null", "boolean"],
            title="Count this window as history",
            description="A window given above that is not one interval of the schedule is ad hoc: it is "
            "recorded and alerted on its own, but left out of the trailing history (latency, volume "
            "baselines, drift streaks, alert streaks). Tick to count it as history anyway.",
        ),
    }


def longest_interval(schedule: str, start: dt.date, intervals: int = 13) -> dt.timedelta:
    """The longest of the schedule's first `intervals` windows from `start` (a month for @monthly)."""
    from itertools import pairwise

    from croniter import croniter

    ticks = croniter(schedule, dt.datetime.combine(start, dt.time(), tzinfo=dt.UTC))
    moments: list[dt.datetime] = [ticks.get_next(dt.datetime) for _ in range(intervals + 1)]
    return max(b - a for a, b in pairwise(moments))


def late_deadline(model: ModelConfig) -> DeadlineAlert | None:
    """The monitor DAG's deadline (Airflow deadline alerts, experimental): a run not done
    `alerts.late_after_hours` after its window ends calls `mlmonitor_airflow.late.report_late`.
    The reference is the run's logical date (its window start), so the interval adds the window length."""
    hours = model.alerts.late_after_hours
    if hours is None:
        return None
    return DeadlineAlert(
        reference=DeadlineReference.DAGRUN_LOGICAL_DATE,
        interval=longest_interval(model.schedule, model.start_date) + dt.timedelta(hours=hours),
        callback=SyncCallback("mlmonitor_airflow.late.report_late", kwargs={"model": model.name}),
        name=f"{model.name} window not monitored",
    )


def monitor_dag(model: ModelConfig) -> DAG:
    name = model.name
    failure = _on_failure(model)
    with DAG(
        dag_id=monitor_dag_id(name),
        schedule=CronDataIntervalTimetable(model.schedule, timezone="UTC"),
        deadline=late_deadline(model),
        **_model_dag_args(model),
        doc_md=monitor_doc(model),
        params=monitor_params(),
        render_template_as_native_obj=True,
    ) as dag:

        @task(**failure)
        def stats(**context: Any) -> StatsPayload:
            from mlmonitor_airflow import tasks

            # a run triggered without a logical date (the UI's default in Airflow 3) has no data interval
            return fail_fast(
                tasks.stats,
                name,
                context["params"],
                context.get("data_interval_start"),
                context.get("data_interval_end"),
                context["dag_run"].run_after,
            )

        @task(**failure)
        def validate(stats_result: StatsPayload) -> ValidationPayload:
            from mlmonitor_airflow import tasks

            return fail_fast(tasks.validate, name, stats_result)

        @task(**failure)
        def persist(stats_result: StatsPayload, validation: ValidationPayload, **context: Any) -> SummaryPayload:
            from mlmonitor_airflow import tasks

            return fail_fast(tasks.persist, name, stats_result, validation, context["run_id"])

        @task(**failure, outlets=[ALERTS_QUEUED] if model.alerts.group_threshold is not None else [])
        def notify(
            summary: SummaryPayload, stats_result: StatsPayload, validation: ValidationPayload, **context: Any
        ) -> str:
            from mlmonitor_airflow import tasks

            return fail_fast(
                tasks.notify,
                name,
                summary,
                stats_result,
                validation,
                context["params"].get("notify") is not False,  # empty (None) means the default: send
                context["ti"].dag_id,
            )

        @task(retries=0)
        def gate(summary: SummaryPayload) -> str:
            from airflow.sdk.exceptions import AirflowFailException

            from mlmonitor_airflow import tasks

            reason = tasks.gate_message(summary)
            if reason:
                tasks.log.error("%s", reason)
                raise AirflowFailException(reason)
            tasks.log.info("window passes: %s: %s", summary["status"], summary["message"])
            return f"{summary['status']}: {summary['message']}"

        s = stats()
        v = validate(s)
        v.operator.operator_extra_links = (DataDocsLink(),)
        p = persist(s, v)
        notify(p, s, v) >> gate(p)
    return dag


def training_asset(model: ModelConfig) -> Asset:
    """The Asset a training pipeline updates (outlets=[...]) to have the baseline re-derived at once."""
    return Asset(name=training_asset_name(model.name), uri=f"mlmonitor://training/{model.name}")


def baseline_params() -> dict[str, Param]:
    return {
        "only_if_changed": Param(
            False,
            type=["null", "boolean"],
            title="Only if the training data changed",
            description="Leave unticked to re-derive the suite and drift baseline now. Tick to first "
            "compare the training table's fingerprint (rows, newest timestamp, content hash) with the "
            "stored baseline and skip when nothing changed, as the scheduled checks do.",
        ),
    }


def baseline_dag(model: ModelConfig) -> DAG:
    name = model.name
    asset = training_asset(model)
    refresh = model.training.refresh_schedule
    schedule: Any = (
        AssetOrTimeSchedule(timetable=CronTriggerTimetable(refresh, timezone="UTC"), assets=[asset])
        if refresh
        else [asset]
    )
    failure = _on_failure(model)
    with DAG(
        dag_id=baseline_dag_id(name),
        schedule=schedule,
        **_model_dag_args(model, "baseline"),
        doc_md=BASELINE_DOC.format(
            name=name,
            training=model.training.table,
            refresh=refresh or "never",
            asset=asset.name,
            dashboard=dashboard_link(name),
        ),
        params=baseline_params(),
    ) as dag:

        @task.short_circuit(**failure)
        def training_changed(**context: Any) -> bool:
            from mlmonitor_airflow import tasks

            run_type = context["dag_run"].run_type
            return fail_fast(
                tasks.baseline_needed,
                name,
                str(getattr(run_type, "value", run_type)),
                bool(context["params"].get("only_if_changed")),
            )

        @task(**failure)
        def derive() -> Derived:
            from mlmonitor_airflow import tasks

            return fail_fast(tasks.derive, name)

        training_changed() >> derive()
    return dag


def labels_dag(model: ModelConfig) -> DAG | None:
    """`mlmonitor_<name>_labels`: re-scores recent windows as their labels arrive (when labels: is set)."""
    if model.labels is None:
        return None
    name = model.name
    labels = model.labels
    with DAG(
        dag_id=labels_dag_id(name),
        schedule=CronDataIntervalTimetable(labels.schedule or model.schedule, timezone="UTC"),
        **_model_dag_args(model, "labels"),
        doc_md=LABELS_DOC.format(
            name=name,
            labels=labels.table,
            lookback=labels.lookback_windows,
            kind=model.prediction.task,
            monitor_dag=monitor_dag_id(name),
            dashboard=dashboard_link(name),
        ),
        params={
            "lookback_windows": Param(
                labels.lookback_windows,
                type=["null", "integer"],
                minimum=1,
                maximum=1000,
                title="Windows to re-score",
                description="How many monitor windows, ending at the data interval end, to re-score.",
            )
        },
    ) as dag:
        failure = _on_failure(model)  # on gate too: its failure is the quality alert

        @task(**failure)
        def rescore(**context: Any) -> RescorePayload:
            from mlmonitor_airflow import tasks

            lookback = int(context["params"].get("lookback_windows") or labels.lookback_windows)
            return fail_fast(tasks.rescore, name, context["data_interval_end"], lookback)

        @task(retries=0, **failure)
        def gate(result: RescorePayload) -> str:

            from mlmonitor_airflow import tasks

            return tasks.labels_gate(name, result)

        gate(rescore())
    return dag


RETENTION_DOC = """\
### Retention

Each day removes what mlmonitor keeps of windows that started more than `[mlmonitor] retention_days`
(env `AIRFLOW__MLMONITOR__RETENTION_DAYS`) days before the run's data interval end: the rows of
`mlmonitor_runs` and `mlmonitor_metrics`, the validation results and Data Docs pages of the models
{models}, and alerts of the alerts file written before then. With `retention_days` 0 (the default)
everything is kept and the run does nothing.
"""


def retention_dag(models: list[ModelConfig]) -> DAG | None:
    """`mlmonitor_retention`: one daily run for every model (none without models)."""
    if not models:
        return None
    names = sorted(m.name for m in models)
    with DAG(
        dag_id=RETENTION_DAG_ID,
        schedule="@daily",
        start_date=dt.datetime.combine(min(m.start_date for m in models), dt.time(), tzinfo=dt.UTC),
        catchup=False,
        max_active_runs=1,
        description="Removes results rows, Data Docs pages, validation results and alerts older than retention_days",
        doc_md=RETENTION_DOC.format(models=", ".join(f"`{n}`" for n in names)),
        tags=["mlmonitor", "retention"],
        default_args={"owner": models[0].owner, "retries": 1, "retry_delay": dt.timedelta(minutes=5)},
    ) as dag:

        @task
        def prune(**context: Any) -> RetentionPayload:
            from mlmonitor_airflow import tasks

            return fail_fast(tasks.retention, names, context["data_interval_end"])

        prune()
    return dag


INVALID_DOC = """\
### Invalid model config `{file}`

This model is **not monitored**: its YAML file does not validate. The other models are unaffected.

```
{message}
```

Fix the file (check it with `mlmonitor check-config`); the DAGs of the model reappear at the next parse.
"""


def invalid_config_dag(path: Path, message: str) -> DAG:
    """A placeholder for a broken model YAML: its description and docs carry the error, and its
    one task fails with it, so one bad file is visible without hiding the DAGs of the others."""
    stem = re.sub(r"[^A-Za-z0-9_]", "_", path.stem)
    with DAG(
        dag_id=f"mlmonitor_invalid_config_{stem}",
        schedule=None,
        start_date=dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
        catchup=False,
        description=f"INVALID CONFIG {path.name}: {' '.join(message.split())}"[:500],
        doc_md=INVALID_DOC.format(file=path.name, message=message),
        tags=["mlmonitor", "config-error"],
        default_args={"retries": 0},
    ) as dag:

        @task
        def config_error() -> None:
            from airflow.sdk.exceptions import AirflowFailException

            raise AirflowFailException(message)

        config_error()
    return dag


GROUPED_DAG_ID = "mlmonitor_alerts_grouped"
# updated by the notify task of every model that groups its alerts: one run of the grouped delivery per
# scheduler tick takes every message queued by the runs that ended since the last one
ALERTS_QUEUED = Asset(name="mlmonitor_alerts_queued", uri="mlmonitor://alerts/queued")


def grouped_alerts_dag() -> DAG:
    """Posts the messages queued by the models with `alerts.group_threshold`: per channel one message
    when at least that many are queued, else one by one (README "Slack", Grouping)."""
    with DAG(
        dag_id=GROUPED_DAG_ID,
        schedule=[ALERTS_QUEUED],
        start_date=dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
        catchup=False,
        max_active_runs=1,
        tags=["mlmonitor"],
        doc_md="Grouped alert delivery: runs when a monitor run of a model with `alerts.group_threshold` "
        "queued its message, and posts what is queued, one message per channel above the threshold.",
    ) as dag:

        @task(retries=2, retry_delay=dt.timedelta(seconds=30))
        def deliver() -> str:
            from mlmonitor_airflow import tasks

            return tasks.deliver_grouped()

        deliver()
    return dag


ACK_DOC = """\
### Acknowledge or mute alerts

For on-call: silence what is already known, without silencing everything else. Trigger this DAG and
fill in the form:

* **mute**: the alerts of a check (`check`), a column (`column`), both, or the whole model (neither)
  are not posted for the windows that start before `until`;
* **acknowledge**: what the model's last alert reports (narrowed by `check` / `column` when given) is
  not posted again before `until`; anything newly failing still posts;
* **unmute**: ends the mutes and acknowledgements of that scope set before now.

Findings are still recorded, and the dashboard shows them as muted with who set it (the user who
triggered this run), until when and why. Stored in `mlmonitor_mutes` beside the results tables.
"""


def ack_dag(models: list[ModelConfig]) -> DAG | None:
    """`mlmonitor_ack`: the trigger form that mutes or acknowledges a model's alerts (None without models)."""
    from mlmonitor.metrics import FAMILIES

    if not models:
        return None
    with DAG(
        dag_id="mlmonitor_ack",
        schedule=None,
        start_date=dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
        catchup=False,
        doc_md=ACK_DOC,
        tags=["mlmonitor"],
        default_args={"retries": 0},
        params={
            "model": Param(models[0].name, type="string", enum=sorted(m.name for m in models), title="Model"),
            "action": Param("mute", type="string", enum=["mute", "acknowledge", "unmute"], title="Action"),
            "check": Param(
                "any",
                type="string",
                enum=["any", *FAMILIES],
                title="Check",
                description="The check family whose alerts to silence; any: every check.",
            ),
            "column": Param(
                None,
                type=["null", "string"],
                title="Column",
                description="Leave empty for every column (and the window-level findings).",
            ),
            "until": Param(
                None,
                type=["null", "string"],
                format="date-time",
                title="Until",
                description="Windows starting before this instant are silenced (UTC without a time zone). "
                "Required for mute and acknowledge.",
            ),
            "reason": Param("", type=["null", "string"], title="Reason", description="Shown on the dashboard."),
        },
    ) as dag:

        @task
        def record(**context: Any) -> str:
            import datetime as dtm

            from mlmonitor_airflow import ack

            user = getattr(context["dag_run"], "triggering_user_name", None)
            return fail_fast(ack.record, dict(context["params"]), user, dtm.datetime.now(dtm.UTC))

        record()
    return dag


def build_dags(models: list[ModelConfig], broken: dict[Path, str] | None = None) -> dict[str, DAG]:
    """All DAGs of all models, keyed by dag_id, plus one placeholder per broken model YAML, and the
    grouped alert delivery when a model groups its alerts, and the acknowledge / mute form."""
    dags: dict[str, DAG] = {}
    if any(m.alerts.group_threshold is not None for m in models):
        dags[GROUPED_DAG_ID] = grouped_alerts_dag()
    for model in models:
        for dag in (monitor_dag(model), baseline_dag(model), labels_dag(model)):
            if dag is not None:
                dags[dag.dag_id] = dag
    retention = retention_dag(models)
    if retention is not None:
        dags[retention.dag_id] = retention
    ack = ack_dag(models)
    if ack is not None:
        dags[ack.dag_id] = ack
    for path, message in (broken or {}).items():
        dag = invalid_config_dag(path, message)
        dags[dag.dag_id] = dag
    return dags
