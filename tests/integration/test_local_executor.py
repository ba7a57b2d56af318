"""A real Airflow with LocalExecutor on PostgreSQL (api-server, scheduler and dag-processor as
subprocesses) monitors one window for each of three models; every run succeeds with the right rows.
The same code with 50 models is the load benchmark (tests/benchmarks/bench_load.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.benchmarks import bench_load

pytestmark = [pytest.mark.integration, pytest.mark.postgres]


def test_five_models_monitored_by_local_executor(postgres_database: dict[str, str], tmp_path: Path) -> None:
    # postgres_database only makes the test skip (or fail in CI) when PostgreSQL is down
    result = bench_load.run_local_executor(3, tmp_path, timeout=900)
    assert result["wrong"] == {}, result
    assert result["runs_succeeded"] == result["result_rows"] == 3
    assert result["rows_per_window"] > 1000
