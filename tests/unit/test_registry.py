"""The extension points: the drift-method and check registries, what is derived from their
declarations, and the layering of the core by role."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlmonitor.checks.base import WindowCheck
from mlmonitor.checks.drift_methods import DriftMethod, drift_method, drift_methods, register_drift_method
from mlmonitor.checks.drift_methods import unregister_drift_method as forget_method
from mlmonitor.checks.registry import (
    BUILTIN,
    RUN_STATUSES,
    checks_table,
    documented_checks,
    register_check,
    status_meanings,
    unregister_check,
    window_checks,
)
from mlmonitor.errors import ConfigError
from mlmonitor.metrics import FAMILIES, Metric
from mlmonitor.ui import dashboard
from tests.factories import model_config

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "include" / "mlmonitor"


def _constant(name: str, value: float) -> DriftMethod:
    return DriftMethod(
        name=name,
        kinds=frozenset({"numeric", "categorical"}),
        default_threshold=0.3,
        label=name,
        why=f"{name}: for the registry test",
        measure=lambda c: value,
    )


@pytest.fixture
def constant_method() -> Iterator[DriftMethod]:
    method = register_drift_method(_constant("always_half", 0.5))
    yield method
    forget_method(method.name)


def test_unknown_drift_method_lists_the_registered_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown drift method 'nope'; known: wasserstein, linf, psi, js, ks"):
        drift_method("nope")
    with pytest.raises(Exception, match=r"drift.numeric_method.*unknown drift method 'nope'"):
        model_config(drift={"numeric_method": "nope"})


def test_a_registered_method_is_accepted_with_its_default_threshold(constant_method: DriftMethod) -> None:
    cfg = model_config(drift={"numeric_method": "always_half", "columns": {"c": {"method": "always_half"}}})
    assert cfg.drift.rule("x", "numeric") == ("always_half", 0.3, 0.02)
    assert cfg.drift.rule("c", "categorical") == ("always_half", 0.3, 0.02)
    assert constant_method in drift_methods("categorical") and constant_method in drift_methods("numeric")
    with pytest.raises(ValueError, match="already registered"):
        register_drift_method(_constant("always_half", 0.9))


def test_a_method_of_another_kind_is_refused_naming_the_usable_ones() -> None:
    with pytest.raises(Exception, match=r"'ks' is for numeric columns, not categorical ones; use linf, psi or js"):
        model_config(drift={"categorical_method": "ks"})


def test_every_builtin_check_declares_itself() -> None:
    names = [c.name for c in documented_checks()]
    assert len(names) == len(set(names))
    for check in documented_checks():
        assert check.family in FAMILIES and check.summary and check.statuses
        assert set(check.statuses) <= {"warning", "alert"}
    meanings = status_meanings()
    assert meanings["ok"] == [RUN_STATUSES["ok"]]
    assert any(m.startswith("a column's distribution or NULL share drifted") for m in meanings["warning"])
    assert "an expectation failed" in " ".join(meanings["alert"])


def test_a_registered_check_runs_after_the_builtins_and_is_documented() -> None:
    extra = WindowCheck(
        name="extra",
        family="health",
        summary="an extra check",
        statuses={"alert": "extra found something"},
        run=lambda ctx: [Metric(check="health", column="", metric="extra", value=1.0)],
    )
    register_check(extra)
    try:
        assert window_checks() == (*BUILTIN, extra)
        assert "extra found something" in status_meanings()["alert"]
        assert "| `extra` | `health` | an extra check | `alert`: extra found something |" in checks_table()
        assert "extra found something" in dashboard.render_index([])
        with pytest.raises(ValueError, match="already registered"):
            register_check(extra)
    finally:
        unregister_check("extra")
    assert window_checks() == BUILTIN


def test_the_readme_table_of_checks_is_the_declared_one() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert checks_table() in readme, "regenerate it with: python -m mlmonitor.checks.registry"


# --- layering: a module of a role imports only from the roles below it --------------------------

# role -> roles it may import from (the package's top-level modules are the foundation, "base")
ALLOWED = {
    "base": {"base"},
    "storage": {"base", "storage"},
    "checks": {"base", "storage", "checks"},
    "alerting": {"base", "storage", "checks", "alerting"},
    "ui": {"base", "storage", "checks", "ui"},
    "top": {"base", "storage", "checks", "alerting", "ui", "top"},
}
# the entry points that compose everything
TOP = {"pipeline", "cli", "demo"}
# pure declarations the model config validates against (no import of their own beyond errors)
DECLARATIONS = {
    "checks.anomaly_stats",
    "checks.drift_methods",
    "checks.drift_stats",
    "checks.scores",
    "alerting.mentions",
}


def _role(module: str) -> str:
    parts = module.split(".")
    if len(parts) > 1:
        return parts[0]
    return "top" if module in TOP else "base"


def _imports(path: Path) -> Iterator[str]:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("mlmonitor"):
            if node.module == "mlmonitor":
                yield from (alias.name for alias in node.names)
            else:
                yield node.module.removeprefix("mlmonitor.")
        elif isinstance(node, ast.Import):
            yield from (a.name.removeprefix("mlmonitor.") for a in node.names if a.name.startswith("mlmonitor."))


def test_no_module_imports_from_a_role_above_it() -> None:
    offenders = []
    for path in sorted(CORE.rglob("*.py")):
        module = ".".join(path.relative_to(CORE).with_suffix("").parts).removesuffix(".__init__")
        role = _role(module)
        for imported in _imports(path):
            if imported in DECLARATIONS or imported == "mlmonitor_airflow":
                continue
            if _role(imported) not in ALLOWED[role]:
                offenders.append(f"{module} ({role}) imports {imported} ({_role(imported)})")
    assert offenders == []


def test_the_layering_check_catches_a_back_edge() -> None:
    assert _role("storage.results") == "storage" and _role("pipeline") == "top" and _role("window") == "base"
    assert "alerting" not in ALLOWED["checks"] and "checks" not in ALLOWED["storage"]


def test_checks_and_methods_declared_as_entry_points_are_loaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib

    from mlmonitor import entry_points

    (tmp_path / "ext_mod.py").write_text(
        "from mlmonitor.checks.base import WindowCheck\n"
        "from mlmonitor.checks.drift_methods import DriftMethod\n"
        "CHECK = WindowCheck(name='ep_check', family='health', summary='from an entry point', statuses={},\n"
        "                    run=lambda ctx: [])\n"
        "METHOD = DriftMethod(name='ep_method', kinds=frozenset({'numeric'}), default_threshold=1.0, label='x',\n"
        "                     why='from an entry point', measure=lambda c: 0.0)\n"
    )
    dist = tmp_path / "ext_mod-0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: ext-mod\nVersion: 0\n")
    (dist / "entry_points.txt").write_text(
        "[mlmonitor.checks]\nep_check = ext_mod:CHECK\n\n[mlmonitor.drift_methods]\nep_method = ext_mod:METHOD\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    entry_points.forget("mlmonitor.checks")
    entry_points.forget("mlmonitor.drift_methods")
    try:
        assert window_checks()[-1].name == "ep_check"
        assert drift_method("ep_method").why == "from an entry point"
    finally:
        unregister_check("ep_check")
        forget_method("ep_method")
        monkeypatch.undo()
        entry_points.forget("mlmonitor.checks")
        entry_points.forget("mlmonitor.drift_methods")


def test_check_owners_accept_every_family() -> None:
    from mlmonitor.alerting.mentions import CHECKS

    assert CHECKS == FAMILIES  # alerts.check_owners keys are the `check` values rows can have
