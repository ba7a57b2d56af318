"""`mlmonitor`: the same code path as the Airflow tasks, for people and automation without a scheduler.

Exit codes: 0 ok, 1 alert, 2 usage or config error, 3 warehouse or baseline error, 4 no data in
the window, 5 warning.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import os
import sys
import time
from collections import Counter
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from mlmonitor import pipeline
from mlmonitor.alerting.destinations import LocalFile, deliver
from mlmonitor.alerting.message import Links, build_alert
from mlmonitor.alerting.policy import AlertDecision, failing, severity_of, should_alert
from mlmonitor.alerting.text import render_text
from mlmonitor.config import ModelConfig, get_model, load_models, models_dir
from mlmonitor.errors import BaselineMissing, ConfigError, MlmonitorError, WarehouseError
from mlmonitor.metrics import RunSummary, Status, drifted_columns, worst
from mlmonitor.project import default_project
from mlmonitor.storage.alert_state import drift_streaks
from mlmonitor.window import Window, parse_instant, schedule_windows

EXIT = {"ok": 0, "alert": 1, "config": 2, "warehouse": 3, "no_data": 4, "warning": 5, "error": 3}
WAREHOUSE_URL_ENV = "MLMONITOR_WAREHOUSE_URL"


def engine_for(model: ModelConfig, url: str | None) -> Engine:
    """An engine from --warehouse-url / $MLMONITOR_WAREHOUSE_URL, else from the model's Airflow connection."""
    url = url or os.environ.get(WAREHOUSE_URL_ENV)
    if url:
        return sa.create_engine(url)
    try:  # the Airflow adapter is optional for the CLI; the core never imports Airflow statically
        connections = importlib.import_module("mlmonitor_airflow.connections")
    except ImportError:
        raise ConfigError(
            f"no warehouse: pass --warehouse-url or set {WAREHOUSE_URL_ENV} "
            f"(Airflow is not installed to read connection {model.warehouse_conn_id!r})"
        ) from None
    engine: Engine = connections.warehouse_engine(model.warehouse_conn_id)
    return engine


def cmd_check_config(args: argparse.Namespace) -> int:
    models = load_models()
    print(f"{len(models)} model(s) in {models_dir()}:")
    for m in models:
        print(
            f"  {m.name}: serving {m.serving.table} every {m.schedule}, training {m.training.table}, "
            f"warehouse connection {m.warehouse_conn_id}"
        )
    return 0


def cmd_baseline(args: argparse.Namespace) -> int:
    from mlmonitor.gx_runtime import great_expectations

    model = get_model(args.model)
    gx_version = great_expectations().__version__
    info = pipeline.derive(model, engine_for(model, args.warehouse_url), default_project(), gx_version)
    print(
        f"{model.name}: {info['expectations']} expectations in {info['suite']} "
        f"({'changed' if info['suite_changed'] else 'unchanged'}); baseline {info['baseline']}"
    )
    print(f"  features: numeric {info['numeric']}, categorical {info['categorical']}")
    print(f"  training fingerprint: {info['fingerprint']}")
    return 0


def run_window(
    model: ModelConfig,
    engine: Engine,
    window: Window,
    columns: Sequence[str] | None,
    *,
    echo: bool = True,
    site_index: bool = True,
) -> RunSummary:
    """prepare -> analyse -> validate -> persist, exactly as the monitor DAG's tasks; prints the alert
    text when `echo`, rebuilds GE's site index when `site_index`."""
    from mlmonitor.checks.validation import validate_window

    project = default_project()
    prepared = pipeline.prepare(model, engine, project, window)
    metrics = pipeline.analyse(model, engine, engine, prepared, window, columns)
    docs = None
    if prepared.rows:
        outcome = validate_window(project, model, engine, prepared.tables, window, site_index=site_index)
        metrics += outcome.metrics
        docs = outcome.docs_path
    summary = pipeline.persist(
        model, engine, window, prepared.rows, prepared.versions, metrics, docs, None, dt.datetime.now(dt.UTC)
    )
    decision = AlertDecision(
        kind="alert", reason="command line run", severity=severity_of(summary.status), since=window.start
    )
    links = Links(docs=str(project.docs_dir / docs) if docs else None)
    streaks = drift_streaks(engine, model.name, drifted_columns(metrics), window.start)
    alert = build_alert(decision, summary, metrics, failing(summary, metrics), streaks, links)
    if should_alert(summary):
        deliver(alert, LocalFile(project.alerts_file, model.alerts.top))
    if echo:
        print(render_text(alert, model.alerts.top))
    return summary


def cmd_run(args: argparse.Namespace) -> int:
    model = get_model(args.model)
    window = Window(parse_instant(args.start, "--start"), parse_instant(args.end, "--end"))
    columns = [c.strip() for c in args.columns.split(",") if c.strip()] if args.columns else None
    summary = run_window(model, engine_for(model, args.warehouse_url), window, columns)
    return EXIT[summary.status]


def cmd_backfill(args: argparse.Namespace) -> int:
    """Every window of the model's schedule in [--start, --end), one after the other in this process
    (GE and the engine set up once). Each window is persisted as it completes and replaces its earlier
    rows, so an interrupted backfill is resumed by running it again."""
    from mlmonitor.checks.validation import refresh_site_index

    model = get_model(args.model)
    lo, hi = parse_instant(args.start, "--start"), parse_instant(args.end, "--end")
    windows = schedule_windows(model.schedule, lo, hi)
    if not windows:
        raise ConfigError(
            f"{model.name}: no complete {model.schedule!r} interval in [{lo.isoformat()}, {hi.isoformat()}); "
            f"widen --start/--end"
        )
    columns = [c.strip() for c in args.columns.split(",") if c.strip()] if args.columns else None
    engine = engine_for(model, args.warehouse_url)
    statuses: list[Status] = []
    began = time.monotonic()
    for window in windows:
        t0 = time.monotonic()
        try:
            summary = run_window(model, engine, window, columns, echo=False, site_index=False)
        except WarehouseError as exc:  # this window failed; the next ones may not (a lost connection)
            print(f"{window.label}: error: {exc}", file=sys.stderr)
            statuses.append("error")
            continue
        statuses.append(summary.status)
        print(f"{window.label}: {summary.status} ({time.monotonic() - t0:.1f} s): {summary.message}")
    if any(s not in ("no_data", "error") for s in statuses):
        refresh_site_index(default_project(), model.name)
    took = time.monotonic() - began
    counts = ", ".join(f"{n} {s}" for s, n in sorted(Counter(statuses).items()))
    print(f"{model.name}: {len(windows)} windows in {took:.1f} s ({len(windows) / took:.2f} windows/s): {counts}")
    return EXIT[worst(statuses)]


def cmd_rescore(args: argparse.Namespace) -> int:
    """Re-score the windows ending by --as-of with the labels arrived by then (as the labels DAG)."""
    model = get_model(args.model)
    if model.labels is None:
        raise ConfigError(f"{model.name}: no labels section in the model YAML; add labels: to score predictions")
    engine = engine_for(model, args.warehouse_url)
    lookback = args.lookback or model.labels.lookback_windows
    scored = pipeline.rescore(model, engine, engine, default_project(), parse_instant(args.as_of, "--as-of"), lookback)
    worst_status = "ok"
    for r in scored:
        found = {m.metric: m for m in r.metrics}
        bad = sorted(m.metric for m in r.regressed)
        worst_status = "alert" if bad else worst_status
        changed = f"; window status {r.previous_status} -> {r.status}" if r.status != r.previous_status else ""
        print(
            f"{r.window.label}: label coverage {found['label_coverage'].value:.1%}"
            + (f"; regressed: {', '.join(bad)}" if bad else "")
            + changed
        )
    return EXIT[worst_status]


def cmd_demo_data(args: argparse.Namespace) -> int:
    from mlmonitor.demo import write_demo

    info = write_demo(sa.create_engine(args.warehouse_url or os.environ[WAREHOUSE_URL_ENV]))
    print(f"demo warehouse: {info}")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="mlmonitor", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("check-config", help="validate every model YAML").set_defaults(func=cmd_check_config)
    url = argparse.ArgumentParser(add_help=False)
    url.add_argument(
        "--warehouse-url", help=f"SQLAlchemy URL (default ${WAREHOUSE_URL_ENV}, else the Airflow connection)"
    )
    b = sub.add_parser("baseline", parents=[url], help="derive the suite and drift baseline from training")
    b.add_argument("model")
    b.set_defaults(func=cmd_baseline)
    r = sub.add_parser("run", parents=[url], help="monitor one window [start, end)")
    r.add_argument("model")
    r.add_argument("--start", required=True, help="ISO datetime, inclusive (naive = UTC)")
    r.add_argument("--end", required=True, help="ISO datetime, exclusive")
    r.add_argument("--columns", help="comma-separated feature subset for drift")
    r.set_defaults(func=cmd_run)
    bf = sub.add_parser("backfill", parents=[url], help="monitor every schedule window in [start, end), in one process")
    bf.add_argument("model")
    bf.add_argument("--start", required=True, help="ISO datetime, inclusive (naive = UTC)")
    bf.add_argument("--end", required=True, help="ISO datetime, exclusive")
    bf.add_argument("--columns", help="comma-separated feature subset for drift")
    bf.set_defaults(func=cmd_backfill)
    rs = sub.add_parser("rescore", parents=[url], help="re-score recent windows with the labels arrived so far")
    rs.add_argument("model")
    rs.add_argument("--as-of", required=True, help="ISO datetime: windows ending by then, labels arrived by then")
    rs.add_argument("--lookback", type=int, help="windows to re-score (default labels.lookback_windows)")
    rs.set_defaults(func=cmd_rescore)
    d = sub.add_parser("demo-data", parents=[url], help="write the demo model's tables to a warehouse")
    d.set_defaults(func=cmd_demo_data)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return EXIT["config"]
    except (WarehouseError, BaselineMissing) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT["warehouse"]
    except MlmonitorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT["error"]
    return code


if __name__ == "__main__":
    sys.exit(main())
