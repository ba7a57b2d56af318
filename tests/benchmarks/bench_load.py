"""Load: N model YAMLs (50; 5 with --quick) generated into a temporary MLMONITOR_MODELS_DIR.

1. DAG parse time of the dags folder (a fresh interpreter per measurement, as the dag-processor
   does), split into interpreter + Airflow import and the DagBag fill itself.
2. All N models monitored for one window by a real Airflow with LocalExecutor: a scratch
   PostgreSQL database for Airflow's metadata and one for the warehouse (the demo tables), the
   api-server, scheduler and dag-processor as subprocesses, one triggered run per model. Reports
   windows per minute and checks every result row in mlmonitor_runs.

Run alone: `python -m tests.benchmarks.bench_load [--quick]` (PostgreSQL at 127.0.0.1:5432).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[2]
PG_ADMIN_URL = os.environ.get("MLMONITOR_PG_ADMIN_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")
TEMPLATE = ROOT / "include" / "models" / "carloan.yaml"
DAY = 0  # a clean demo day: every model's window must come out `ok`

PARSE = r"""
import json, sys, time
t0 = time.perf_counter()
from airflow.dag_processing.dagbag import DagBag
t1 = time.perf_counter()
bag = DagBag(sys.argv[1])
t2 = time.perf_counter()
out = {"import_s": t1 - t0, "dagbag_s": t2 - t1, "dags": len(bag.dag_ids), "errors": len(bag.import_errors)}
print(json.dumps(out))
"""

TRIGGER = r"""
import json, sys
from airflow.api.common.trigger_dag import trigger_dag
from airflow.utils.types import DagRunTriggeredByType
for dag_id, run_id, conf in json.loads(sys.argv[1]):
    trigger_dag(dag_id, triggered_by=DagRunTriggeredByType.CLI, run_id=run_id, conf=conf, logical_date=None)
"""


def make_models(n: int, folder: Path) -> list[str]:
    """N copies of the demo model (same tables, own names, suites and baselines)."""
    folder.mkdir(parents=True, exist_ok=True)
    template = TEMPLATE.read_text()
    names = [f"load{i:02d}" for i in range(n)]
    for name in names:
        (folder / f"{name}.yaml").write_text(template.replace("name: carloan", f"name: {name}"))
    return names


def measure_parse(models_dir: Path, repeat: int) -> dict[str, Any]:
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(ROOT),
        "AIRFLOW_CONFIG": str(ROOT / "airflow.cfg"),
        "MLMONITOR_MODELS_DIR": str(models_dir),
    }
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = subprocess.run(
            [sys.executable, "-c", PARSE, str(ROOT / "dags")], env=env, capture_output=True, text=True, check=True
        )
        wall = time.perf_counter() - t0
        runs.append({**json.loads(out.stdout.strip().splitlines()[-1]), "wall_s": wall})
    return {
        "dags": runs[0]["dags"],
        "import_errors": runs[0]["errors"],
        "parse_wall_s": round(statistics.median(r["wall_s"] for r in runs), 3),
        "airflow_import_s": round(statistics.median(r["import_s"] for r in runs), 3),
        "dagbag_fill_s": round(statistics.median(r["dagbag_s"] for r in runs), 3),
        "repeats": repeat,
    }


@contextmanager
def scratch_database(prefix: str) -> Iterator[str]:
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield admin.url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _conn_json(url: str) -> str:
    u = sa.make_url(url)
    return json.dumps(
        {
            "conn_type": "postgres",
            "host": u.host or "127.0.0.1",
            "port": u.port or 5432,
            "login": u.username or "postgres",
            "password": u.password or "",
            "schema": u.database,
        }
    )


def airflow_env(
    work: Path, metadata_url: str, warehouse_url: str, port: int, executor: dict[str, str] | None = None
) -> dict[str, str]:
    """The environment of every Airflow component; `executor` overrides the LocalExecutor settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW__", "AIRFLOW_CONN_"))}
    env.update(
        {
            "AIRFLOW_HOME": str(ROOT),
            "AIRFLOW_CONFIG": str(ROOT / "airflow.cfg"),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata_url,
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            # only the runs we trigger: no scheduled run for the latest interval on unpause
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
            # on an overloaded 2-core machine a task can wait in the executor queue longer than the
            # default 600 s, after which the scheduler fails and re-queues it (404 "Task Instance not
            # found" in the worker): measure throughput, not that timeout
            "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "7200",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(work / "logs"),
            "AIRFLOW__LOGGING__DAG_PROCESSOR_CHILD_PROCESS_LOG_DIRECTORY": str(work / "logs" / "dag_processor"),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(work / "passwords.json"),
            "MLMONITOR_MODELS_DIR": str(work / "models"),
            "MLMONITOR_GX_ROOT": str(work / "gx"),
            "AIRFLOW_CONN_MLMONITOR_WAREHOUSE": _conn_json(warehouse_url),
            **(executor or {}),
        }
    )
    return env


COMPONENTS: tuple[tuple[str, ...], ...] = (("api-server",), ("scheduler",), ("dag-processor",))


@contextmanager
def airflow_components(
    env: dict[str, str], work: Path, commands: tuple[tuple[str, ...], ...] = COMPONENTS
) -> Iterator[None]:
    """api-server, scheduler and dag-processor (and any other `airflow` commands) as subprocesses;
    stopped (by their pids) on exit."""
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for i, command in enumerate(commands):
            log = open(work / f"{i}-{'-'.join(command[:2])}.log", "wb")  # noqa: SIM115 (closed with the process)
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "airflow", *command],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        yield
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)  # the group of a process this module started
                p.wait()


def _wait(what: str, check: Any, timeout: float, work: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(2)
    logs = {p.name: p.read_text(errors="replace")[-2000:] for p in work.glob("*.log")}
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}; component logs: {logs}")


def run_local_executor(n: int, work: Path, timeout: float = 3600) -> dict[str, Any]:
    """Monitor one window for each of `n` models through a real LocalExecutor Airflow."""
    return run_deployment(n, work, timeout=timeout)


def run_deployment(
    n: int,
    work: Path,
    *,
    windows: int = 1,
    executor: dict[str, str] | None = None,
    extra_components: tuple[tuple[str, ...], ...] = (),
    timeout: float = 3600,
) -> dict[str, Any]:
    """Monitor `windows` consecutive clean days for each of `n` models through a real Airflow
    (LocalExecutor unless `executor` says otherwise), every run triggered at once; then check every
    run, every result row, every Data Docs page and every file of the shared GX root."""
    import great_expectations as gx

    from mlmonitor import pipeline
    from mlmonitor.config import load_model
    from mlmonitor.demo import START, write_demo
    from mlmonitor.project import GxProject
    from mlmonitor.storage.results import read_runs

    names = make_models(n, work / "models")
    days = [DAY + d for d in range(windows)]
    with scratch_database("mlmonitor_load_meta") as metadata_url, scratch_database("mlmonitor_load_wh") as wh_url:
        warehouse = sa.create_engine(wh_url)
        write_demo(warehouse, days=days)
        project = GxProject(work / "gx")
        t0 = time.perf_counter()
        for name in names:
            pipeline.derive(load_model(work / "models" / f"{name}.yaml"), warehouse, project, gx.__version__)
        derive_s = time.perf_counter() - t0
        port = _free_port()
        env = airflow_env(work, metadata_url, wh_url, port, (executor or {}) | _result_backend(executor, metadata_url))
        migrate = subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], env=env, capture_output=True)
        if migrate.returncode:
            raise RuntimeError(f"airflow db migrate failed: {migrate.stderr.decode()[-3000:]}")
        meta = sa.create_engine(metadata_url)
        dag_ids = [f"mlmonitor_{name}" for name in names]
        bounds = [(START + dt.timedelta(days=d), START + dt.timedelta(days=d + 1)) for d in days]
        with airflow_components(env, work, COMPONENTS + extra_components):
            started = time.perf_counter()

            def parsed() -> bool:
                with meta.connect() as conn:
                    found = conn.execute(
                        sa.text("SELECT count(*) FROM dag WHERE dag_id = ANY(:ids) AND NOT is_paused"),
                        {"ids": dag_ids},
                    ).scalar_one()
                return int(found) == n

            _wait(f"{n} parsed, unpaused monitor DAGs", parsed, 600, work)
            ready_s = time.perf_counter() - started
            triggers = [
                (
                    dag_id,
                    f"load_{dag_id}_{day}",
                    {
                        "window_start": lo.isoformat() + "+00:00",
                        "window_end": hi.isoformat() + "+00:00",
                        "notify": True,
                        "columns": [],
                    },
                )
                for dag_id in dag_ids
                for day, (lo, hi) in zip(days, bounds, strict=True)
            ]
            t_trigger = time.perf_counter()
            subprocess.run(
                [sys.executable, "-c", TRIGGER, json.dumps(triggers)], env=env, check=True, capture_output=True
            )

            def states() -> dict[str, str]:
                with meta.connect() as conn:
                    rows = conn.execute(
                        sa.text("SELECT run_id, state FROM dag_run WHERE dag_id = ANY(:ids)"), {"ids": dag_ids}
                    )
                    return {r: s for r, s in rows}

            _wait(
                f"{len(triggers)} monitor runs to finish",
                lambda: len(s := states()) == len(triggers) and all(v in {"success", "failed"} for v in s.values()),
                timeout,
                work,
            )
            elapsed = time.perf_counter() - t_trigger
            final = states()
        runs = {(r["model"], r["window_start"]): r for name in names for r in read_runs(warehouse, name)}
        with warehouse.connect() as conn:
            expected_rows = [
                conn.execute(
                    sa.text("SELECT count(*) FROM carloan_serving_logs WHERE timestamp >= :lo AND timestamp < :hi"),
                    {"lo": lo, "hi": hi},
                ).scalar_one()
                for lo, hi in bounds
            ]
        warehouse.dispose()
        meta.dispose()
    wrong: dict[str, Any] = {}
    for name in names:
        for day, (lo, _hi), rows in zip(days, bounds, expected_rows, strict=True):
            run = next((r for (m, start), r in runs.items() if m == name and _naive(start) == lo), {})
            state = final.get(f"load_mlmonitor_{name}_{day}")
            page = project.docs_dir / run["docs_path"] if run.get("docs_path") else None
            if (
                state != "success"
                or run.get("status") != "ok"
                or run.get("rows") != rows
                or run.get("failed_expectations") != 0
                or page is None
                or not page.is_file()
            ):
                wrong[f"{name}/{day}"] = (state, run.get("status"), run.get("rows"), run.get("docs_path"))
    return {
        "models": n,
        "windows_per_model": windows,
        "derive_baselines_s": round(derive_s, 1),
        "components_ready_s": round(ready_s, 1),
        "trigger_to_last_run_done_s": round(elapsed, 1),
        "windows_per_minute": round(len(triggers) / (elapsed / 60), 2),
        "runs_succeeded": sum(s == "success" for s in final.values()),
        "result_rows": len(runs),
        "rows_per_window": expected_rows[0] if windows == 1 else expected_rows,
        "corrupt_files": corrupt_files(project.root),
        "wrong": wrong,
    }


def _naive(value: Any) -> dt.datetime | None:
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value.replace(tzinfo=None) if isinstance(value, dt.datetime) else None


def _result_backend(executor: dict[str, str] | None, metadata_url: str) -> dict[str, str]:
    """Celery keeps task results in the metadata database (its `db+` SQLAlchemy backend)."""
    if not executor or executor.get("AIRFLOW__CORE__EXECUTOR") != "CeleryExecutor":
        return {}
    return {"AIRFLOW__CELERY__RESULT_BACKEND": "db+" + metadata_url.replace("+psycopg2", "")}


def corrupt_files(root: Path) -> list[str]:
    """Files of a GX root that do not parse (JSON, YAML) or are cut short (HTML), and temp files left behind."""
    import yaml

    bad = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        text = path.read_text(encoding="utf-8", errors="replace")
        try:
            if path.suffix == ".json":
                json.loads(text)
            elif path.suffix in {".yml", ".yaml"}:
                yaml.safe_load(text)
            elif path.suffix == ".html" and "</html>" not in text:
                raise ValueError("no </html>")
            elif path.suffix == ".jsonl":
                for line in text.splitlines():
                    json.loads(line)
            elif path.suffix in {".tmp", ".part"} or path.name.startswith(".tmp"):
                raise ValueError("temporary file left behind")
        except (ValueError, yaml.YAMLError) as exc:
            bad.append(f"{path.relative_to(root)}: {exc}")
    return bad


def main(quick: bool = False) -> dict[str, Any]:
    n = 5 if quick else 50
    with tempfile.TemporaryDirectory(prefix="mlmonitor-bench-load-") as tmp:
        work = Path(tmp)
        make_models(n, work / "parse-models")
        parse = measure_parse(work / "parse-models", 1 if quick else 3)
        local = run_local_executor(n, work)
    return {"benchmark": "load", "models": n, "parse": parse, "local_executor": local}


if __name__ == "__main__":
    print(json.dumps(main("--quick" in sys.argv[1:]), indent=2))
