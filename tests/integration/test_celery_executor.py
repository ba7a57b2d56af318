"""A real CeleryExecutor deployment (Redis broker, PostgreSQL metadata and warehouse, two workers,
one shared GX root): several models' windows validated at once on different worker processes lose
or corrupt nothing. 20 models x 3 windows is the benchmark tests/benchmarks/bench_celery.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.benchmarks import bench_celery

pytestmark = [pytest.mark.integration, pytest.mark.postgres, pytest.mark.celery]


@pytest.fixture
def redis_broker() -> str:
    problem = bench_celery.redis_problem()
    if problem:
        if os.environ.get("MLMONITOR_REQUIRE_CELERY") or os.environ.get("CI"):
            pytest.fail(f"{problem} (required here: MLMONITOR_REQUIRE_CELERY=1)")
        pytest.skip(problem)
    return bench_celery.REDIS_URL


def test_models_times_windows_on_two_celery_workers(
    postgres_database: dict[str, str], redis_broker: str, tmp_path: Path
) -> None:
    # postgres_database only makes the test skip (or fail in CI) when PostgreSQL is down
    result = bench_celery.run_celery_executor(4, tmp_path, windows=3, timeout=1800)
    assert result["wrong"] == {}, result
    assert result["corrupt_files"] == [], result
    assert result["runs_succeeded"] == result["result_rows"] == 12
    # both workers took tasks: the runs really were spread over two processes
    assert len(result["tasks_per_worker"]) == 2 and all(result["tasks_per_worker"].values()), result
