"""The core package must import and run without Airflow."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

CORE = Path(__file__).resolve().parents[2] / "include" / "mlmonitor"
AIRFLOW_IMPORT = re.compile(r"^\s*(from|import)\s+airflow")


def test_importing_the_core_loads_no_airflow_module() -> None:
    # every module of the core, subpackages included
    code = (
        "import importlib, pkgutil, sys, mlmonitor; "
        "[importlib.import_module(m.name) for m in pkgutil.walk_packages(mlmonitor.__path__, 'mlmonitor.')]; "
        "print(any(m == 'airflow' or m.startswith('airflow.') for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "False", out.stderr


def test_no_airflow_import_statements_in_the_core() -> None:
    files = sorted(CORE.rglob("*.py"))
    assert len(files) >= 12  # the whole package is scanned
    offenders = [
        f"{path.relative_to(CORE)}:{n}: {line.strip()}"
        for path in files
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if AIRFLOW_IMPORT.match(line)
    ]
    assert offenders == []


def test_the_pattern_catches_airflow_imports() -> None:
    assert AIRFLOW_IMPORT.match("from airflow.sdk import dag")
    assert AIRFLOW_IMPORT.match("    import airflow")
    assert not AIRFLOW_IMPORT.match("# import airflow")
    assert not AIRFLOW_IMPORT.match("from mlmonitor_airflow import x")
