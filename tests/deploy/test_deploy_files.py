"""Static checks of the Dockerfile and docker-compose.yaml (no Docker engine runs here).

A clean clone must build: every file the Dockerfile copies is tracked, the base image is the
pinned Airflow on the Python the project requires, and the compose services are consistent with
each other, with the image and with Airflow 3's command line.
"""

from __future__ import annotations

import json
import re
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
AIRFLOW_SERVICES = {"api-server", "scheduler", "dag-processor", "triggerer"}


def _tracked() -> set[str]:
    out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True)
    return set(out.stdout.splitlines())


def _dockerfile() -> list[tuple[str, list[str]]]:
    """(instruction, arguments) per Dockerfile instruction, continuation lines joined."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.split()))
    return out


def _pins() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return dict(d.split("==") for d in project["dependencies"])


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yaml").read_text())
    return data


def test_base_image_is_the_pinned_airflow_on_the_required_python() -> None:
    (base,) = [args for word, args in _dockerfile() if word == "FROM"]
    match = re.fullmatch(r"apache/airflow:(?P<airflow>[\d.]+)-python(?P<py>\d+\.\d+)", base[0])
    assert match, f"FROM {base[0]}: expected apache/airflow:<version>-python<x.y>"
    assert match["airflow"] == _pins()["apache-airflow"]
    lock = dict(line.split("==") for line in (ROOT / "requirements.lock").read_text().split() if "==" in line)
    assert lock["apache-airflow"] == match["airflow"]
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    lo, hi = re.fullmatch(r">=([\d.]+),<([\d.]+)", requires).groups()  # type: ignore[union-attr]
    version = tuple(int(x) for x in match["py"].split("."))
    assert tuple(int(x) for x in lo.split(".")) <= version < tuple(int(x) for x in hi.split("."))


def test_dockerfile_copies_only_tracked_files_and_installs_with_the_lock() -> None:
    tracked = _tracked()
    steps = _dockerfile()
    for word, args in steps:
        if word != "COPY":
            continue
        sources = [a for a in args if not a.startswith("--")][:-1]
        for src in sources:
            src = src.rstrip("/")
            assert src in tracked or any(f.startswith(src + "/") for f in tracked), (
                f"Dockerfile copies {src!r}, which a clean clone does not have"
            )
    installs = [" ".join(args) for word, args in steps if word == "RUN" and "pip" in args]
    assert any("-c /opt/airflow/requirements.lock" in cmd and "/opt/airflow" in cmd for cmd in installs), installs
    # the lock (the constraints) must be copied before the step that installs with it
    copied_lock = next(i for i, (w, a) in enumerate(steps) if w == "COPY" and "requirements.lock" in a)
    first_pip = next(i for i, (w, a) in enumerate(steps) if w == "RUN" and "pip" in a)
    assert copied_lock < first_pip


def test_dockerfile_env_points_mlmonitor_at_the_copied_project() -> None:
    env = {}
    for word, args in _dockerfile():
        if word == "ENV":
            env.update(a.split("=", 1) for a in args if "=" in a)
    assert env["AIRFLOW_HOME"] == "/opt/airflow"
    assert env["MLMONITOR_GX_ROOT"] == "/opt/airflow/expectations"
    assert env["MLMONITOR_MODELS_DIR"] == "/opt/airflow/include/models"


def test_compose_has_every_airflow_3_component_on_one_image(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert AIRFLOW_SERVICES | {"postgres", "airflow-init"} <= set(services)
    for name in AIRFLOW_SERVICES | {"airflow-init"}:
        svc = services[name]
        assert svc["build"] == "." and svc["image"] == "mlmonitor:latest", name


def test_compose_commands_are_valid_airflow_3_commands(compose: dict[str, Any]) -> None:
    from airflow.cli.cli_parser import get_parser

    parser = get_parser()
    commands = {name: compose["services"][name]["command"] for name in AIRFLOW_SERVICES | {"airflow-init"}}
    for name, command in commands.items():
        try:
            parser.parse_args(command)
        except SystemExit:
            pytest.fail(f"service {name}: `airflow {' '.join(command)}` is not an Airflow 3 command")
    assert {c[0] for c in commands.values()} == {"api-server", "scheduler", "dag-processor", "triggerer", "db"}


def test_compose_dependencies_and_volumes_are_consistent(compose: dict[str, Any]) -> None:
    services = compose["services"]
    declared = set(compose["volumes"])
    used: set[str] = set()
    for name, svc in services.items():
        for dep in svc.get("depends_on", {}):
            assert dep in services, f"{name} depends on unknown service {dep}"
        for mount in svc.get("volumes", []):
            source, _target = mount.split(":")[:2]
            if source.startswith("."):
                assert (ROOT / source).exists(), f"{name} mounts {source}, which is not in the repository"
            else:
                assert source in declared, f"{name} mounts undeclared volume {source}"
                used.add(source)
    assert used == declared, f"declared but unused volumes: {declared - used}"
    gx_root = services["scheduler"]["environment"]["MLMONITOR_GX_ROOT"]
    for name in AIRFLOW_SERVICES:
        mounts = dict(m.split(":")[1::-1] for m in services[name]["volumes"])
        assert mounts.get(gx_root) == "mlmonitor-gx", f"{name} must mount the shared GE project at {gx_root}"


def test_compose_environment_wires_executor_databases_and_connections(compose: dict[str, Any]) -> None:
    services = compose["services"]
    env = services["scheduler"]["environment"]
    assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    assert re.match(
        r"postgresql\+psycopg2://airflow:\$\{[A-Z_]+:\?[^}]+\}@postgres:5432/airflow$",
        env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"],
    )
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://api-server:8080/execution/"
    # every component sees the same settings (one anchor), so JWTs and Fernet-encrypted values agree
    for name in AIRFLOW_SERVICES:
        assert services[name]["environment"] == env, name
    warehouse = json.loads(re.sub(r"\$\{[^}]+\}", "x", env["AIRFLOW_CONN_MLMONITOR_WAREHOUSE"]))
    assert warehouse["conn_type"] == "postgres" and warehouse["host"] in services
    from mlmonitor.config import load_models

    for model in load_models(ROOT / "include" / "models"):
        assert f"AIRFLOW_CONN_{model.warehouse_conn_id.upper()}" in env, model.name


def test_every_required_variable_is_documented_in_the_env_example(compose: dict[str, Any]) -> None:
    text = (ROOT / "docker-compose.yaml").read_text()
    required = set(re.findall(r"\$\{([A-Z_]+):\?", text))
    example = {line.split("=")[0] for line in (ROOT / "deploy/env.example").read_text().splitlines() if "=" in line}
    assert required and required <= example, required - example
    assert "/.env" in (ROOT / ".gitignore").read_text().split()
    init = ROOT / "deploy/postgres/init-databases.sh"
    assert init.stat().st_mode & 0o111, "the postgres init script must be executable"
