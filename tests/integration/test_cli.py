"""The `mlmonitor` CLI: same code path as the tasks, documented exit codes, no scheduler needed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from mlmonitor.cli import main
from mlmonitor.demo import INCIDENTS, write_demo
from mlmonitor.storage.results import read_runs
from tests.warehouses import WAREHOUSES

pytestmark = pytest.mark.integration


@pytest.fixture(params=WAREHOUSES)
def url(request: pytest.FixtureRequest, gx_root: Path) -> str:
    db = request.getfixturevalue(f"{request.param}_database")
    engine = sa.create_engine(db["url"])
    write_demo(engine, days=[0, INCIDENTS.quality_incident])
    engine.dispose()
    return str(db["url"])


def test_check_config(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config"]) == 0
    assert "carloan" in capsys.readouterr().out


def test_run_before_baseline_says_how_to_derive(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", "carloan", "--start", "2024-03-01", "--end", "2024-03-02", "--warehouse-url", url])
    assert code == 3
    assert "mlmonitor baseline carloan" in capsys.readouterr().err


def test_exit_codes_follow_the_window_status(url: str, gx_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["baseline", "carloan", "--warehouse-url", url]) == 0
    suite = gx_root / "gx/expectations/carloan.json"
    first = suite.read_bytes()
    assert main(["baseline", "carloan", "--warehouse-url", url]) == 0
    assert suite.read_bytes() == first, "re-deriving from the same data must be byte-identical"

    assert main(["run", "carloan", "--start", "2024-03-01", "--end", "2024-03-02", "--warehouse-url", url]) == 0
    assert main(["run", "carloan", "--start", "2024-04-15", "--end", "2024-04-16", "--warehouse-url", url]) == 1
    out = capsys.readouterr().out
    assert "ALERT" in out and "gig_worker" in out and "credit_score" in out
    assert main(["run", "carloan", "--start", "2023-01-01", "--end", "2023-01-02", "--warehouse-url", url]) == 4
    statuses = {r["window_start"].isoformat(): r["status"] for r in read_runs(sa.create_engine(url), "carloan")}
    assert statuses == {"2024-03-01T00:00:00": "ok", "2024-04-15T00:00:00": "alert", "2023-01-01T00:00:00": "no_data"}
    alerts = [json.loads(x)["status"] for x in (gx_root / "gx/uncommitted/alerts.jsonl").read_text().splitlines()]
    assert alerts == ["alert", "no_data"]


def test_bad_input_exits_2_naming_the_argument(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "carloan", "--start", "yesterday", "--end", "2024-03-02", "--warehouse-url", url]) == 2
    assert "--start" in capsys.readouterr().err
    assert main(["run", "nosuchmodel", "--start", "2024-03-01", "--end", "2024-03-02", "--warehouse-url", url]) == 2
    assert "known models: carloan" in capsys.readouterr().err


def test_missing_table_exits_3_naming_it(tmp_path: Path, gx_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["baseline", "carloan", "--warehouse-url", f"sqlite:///{tmp_path}/empty.db"]) == 3
    assert "carloan_training" in capsys.readouterr().err


def test_rescore_scores_windows_with_the_labels_arrived(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["baseline", "carloan", "--warehouse-url", url]) == 0
    capsys.readouterr()
    assert main(["rescore", "carloan", "--as-of", "2024-03-09", "--lookback", "8", "--warehouse-url", url]) == 0
    out = capsys.readouterr().out
    assert out.strip().splitlines() == ["[2024-03-01T00:00:00+00:00, 2024-03-02T00:00:00+00:00): label coverage 100.0%"]
    assert main(["rescore", "carloan", "--as-of", "yesterday", "--warehouse-url", url]) == 2
    assert "--as-of" in capsys.readouterr().err


def test_backfill_monitors_every_window_of_the_range_once(
    url: str, gx_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Three daily windows in one process; running it again replaces each window's rows (a resumed or
    repeated backfill leaves one run row per window) and counts the re-validation in the index."""
    engine = sa.create_engine(url)
    write_demo(engine, days=[0, 1])
    assert main(["baseline", "carloan", "--warehouse-url", url]) == 0
    capsys.readouterr()
    args = ["backfill", "carloan", "--start", "2024-02-29T06:00", "--end", "2024-03-04T12:00", "--warehouse-url", url]
    assert main(args) == 4  # the first two windows hold predictions, the third none
    out = capsys.readouterr().out
    assert "carloan: 3 windows in" in out and "windows/s" in out
    assert "[2024-03-01T00:00:00+00:00, 2024-03-02T00:00:00+00:00): ok" in out
    assert main(args) == 4
    runs = read_runs(engine, "carloan")
    assert sorted((r["window_start"].isoformat(), r["status"]) for r in runs) == [
        ("2024-03-01T00:00:00", "ok"),
        ("2024-03-02T00:00:00", "ok"),
        ("2024-03-03T00:00:00", "no_data"),
    ]
    index = (gx_root / "gx/uncommitted/data_docs/local_site/mlmonitor/carloan.html").read_text()
    assert index.count("(2 validations)") == 4  # two windows with rows, each validated twice, two suites
    assert (gx_root / "gx/uncommitted/data_docs/local_site/index.html").is_file()
    engine.dispose()


def test_backfill_of_no_complete_window_exits_2(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["backfill", "carloan", "--start", "2024-03-01T06:00", "--end", "2024-03-02T00:00", "--warehouse-url", url]
    assert main(args) == 2
    assert "no complete '@daily' interval" in capsys.readouterr().err
