"""Many workers: N models x 3 windows (20 x 3; 4 x 3 with --quick) monitored by a real CeleryExecutor
deployment on this machine, every run triggered at once.

Redis at 127.0.0.1:6379 (MLMONITOR_REDIS_URL; a dedicated database number) is the broker, with a
queue of its own per run so that nothing else on that Redis takes its tasks; a scratch PostgreSQL
database holds Airflow's metadata (and Celery's task results), another the warehouse (the demo
tables). The api-server, scheduler, dag-processor and two `airflow celery worker` processes run as
subprocesses and share one GX root. Checks that every run succeeds, that every window has its
result row (status ok, the window's row count) and its Data Docs page, and that no file of the GX
root is corrupt; reports windows per minute.

Run alone: `python -m tests.benchmarks.bench_celery [--quick]`.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

from tests.benchmarks import bench_load

REDIS_URL = os.environ.get("MLMONITOR_REDIS_URL", "redis://127.0.0.1:6379/11")


def redis_problem(url: str = REDIS_URL) -> str | None:
    """Why the broker cannot be used, or None when it answers PING."""
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        return f"Redis unreachable at {url}: {exc}"
    return None


def run_celery_executor(
    n: int, work: Path, *, windows: int = 3, workers: int = 2, concurrency: int = 2, timeout: float = 3600
) -> dict[str, Any]:
    """Monitor `windows` days of `n` models through a real CeleryExecutor Airflow with `workers` workers."""
    queue = f"mlmonitor_{uuid.uuid4().hex[:10]}"
    executor = {
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__CELERY__BROKER_URL": REDIS_URL,
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(concurrency),
        "AIRFLOW__OPERATORS__DEFAULT_QUEUE": queue,
    }
    worker_commands = tuple(
        (
            "celery",
            "worker",
            "--queues",
            queue,
            "--celery-hostname",
            f"{queue}_{i}",
            "--pid",
            str(work / f"worker{i}.pid"),
            # both workers share this machine's log-serving port; task logs are files in the work folder
            "--skip-serve-logs",
        )
        for i in range(workers)
    )
    result = bench_load.run_deployment(
        n, work, windows=windows, executor=executor, extra_components=worker_commands, timeout=timeout
    )
    result["workers"] = workers
    result["tasks_per_worker"] = _tasks_per_worker(work)
    return result


def _tasks_per_worker(work: Path) -> dict[str, int]:
    """How many tasks each worker ran, from its log (each worker must have taken some)."""
    counts = {}
    for log in sorted(work.glob("*-celery-worker.log")):
        counts[log.stem] = log.read_text(errors="replace").count("Executing workload in Celery")
    return counts


def main(quick: bool = False) -> dict[str, Any]:
    problem = redis_problem()
    if problem:
        raise RuntimeError(f"{problem}; start it with `redis-server --daemonize yes`")
    n = 4 if quick else 20
    with tempfile.TemporaryDirectory(prefix="mlmonitor-bench-celery-") as tmp:
        result = run_celery_executor(n, Path(tmp))
    ok = not result["wrong"] and not result["corrupt_files"]
    return {
        "title": f"CeleryExecutor, {n} models x 3 windows, 2 workers x concurrency 2 (Redis, PostgreSQL)",
        "rows": [{k: v for k, v in result.items() if k not in {"wrong", "corrupt_files", "rows_per_window"}}],
        "goals": {"every run, result row and Data Docs page; no corrupt file": {"target": "all", "met": ok}},
        "result": result,
    }


if __name__ == "__main__":
    print(json.dumps(main("--quick" in sys.argv[1:]), indent=2, default=str))
