"""The window checks, in the order the pipeline runs them: the one list to extend.

A built-in check is one `WindowCheck` in its module, listed in `BUILTIN`. A check of your own needs
no edit here: call `register_check(MY_CHECK)` in a module your deployment imports, or declare it
under the entry-point group `mlmonitor.checks` of your package (see README "Extending mlmonitor").

What each status means (the DAG docs, the dashboard legend, the README's table of checks) is made
from these declarations by `status_meanings` and `checks_table`.
"""

from __future__ import annotations

from collections.abc import Sequence

from mlmonitor.checks.anomalies import ANOMALIES
from mlmonitor.checks.base import CheckInfo, WindowCheck
from mlmonitor.checks.drift import DRIFT
from mlmonitor.checks.health import OPERATIONS, STABILITY, STALENESS, VERSION_CHANGE, VERSIONS, WINDOW_LENGTH
from mlmonitor.checks.performance import PERFORMANCE
from mlmonitor.checks.prediction import PREDICTION_STATS
from mlmonitor.checks.schema import SCHEMA_CHANGES, SERVING_SCHEMA
from mlmonitor.checks.skew import SKEW
from mlmonitor.checks.validation import VALIDATION
from mlmonitor.entry_points import load_once
from mlmonitor.metrics import STATUSES, Status

ENTRY_POINT_GROUP = "mlmonitor.checks"
BUILTIN: tuple[WindowCheck, ...] = (
    SERVING_SCHEMA,
    PREDICTION_STATS,
    DRIFT,
    VERSIONS,
    VERSION_CHANGE,
    STALENESS,
    STABILITY,
    OPERATIONS,
    SKEW,
    SCHEMA_CHANGES,
    PERFORMANCE,
    WINDOW_LENGTH,
    ANOMALIES,  # last: it judges the series the checks above measured
)
# What a run's status means when no check gave it (the run row itself).
RUN_STATUSES: dict[Status, str] = {
    "ok": "every check passed",
    "no_data": "no serving rows in the window (is the model serving, is logging working?)",
    "error": "the monitoring run itself failed",
}

_registered: list[WindowCheck] = []


def register_check(check: WindowCheck) -> WindowCheck:
    """Run `check` on every window after the built-in checks (in registration order)."""
    names = {c.name for c in (*BUILTIN, *_registered)}
    if check.name in names:
        raise ValueError(f"a check named {check.name!r} is already registered")
    _registered.append(check)
    return check


def unregister_check(name: str) -> None:
    """Forget a registered check (tests, or a deployment replacing a plugin)."""
    _registered[:] = [c for c in _registered if c.name != name]


def _register_from_entry_point(check: WindowCheck) -> None:
    if check.name not in {c.name for c in _registered}:
        register_check(check)


def window_checks() -> tuple[WindowCheck, ...]:
    """Every check the pipeline runs on a non-empty window, in order."""
    load_once(ENTRY_POINT_GROUP, WindowCheck, _register_from_entry_point)
    return (*BUILTIN, *_registered)


def documented_checks() -> tuple[CheckInfo, ...]:
    """The window checks and the GE validation (which runs in its own task), for docs and legends."""
    return (*window_checks(), VALIDATION)


def status_meanings(checks: Sequence[CheckInfo] | None = None) -> dict[Status, list[str]]:
    """Per status, every condition that gives it (each check's declaration), in status order."""
    out: dict[Status, list[str]] = {s: [] for s in STATUSES}
    for s, meaning in RUN_STATUSES.items():
        out[s].append(meaning)
    for check in checks if checks is not None else documented_checks():
        for s, meaning in check.statuses.items():
            out[s].append(meaning)
    return out


def checks_table(checks: Sequence[CheckInfo] | None = None) -> str:
    """The Markdown table of checks the README carries (a test keeps the README equal to it)."""
    lines = ["| check | rows (`check_name`) | what it checks | status: when |", "|---|---|---|---|"]
    for c in checks if checks is not None else documented_checks():
        when = "<br>".join(f"`{s}`: {m}" for s, m in c.statuses.items())
        lines.append(f"| `{c.name}` | `{c.family}` | {c.summary} | {when} |")
    return "\n".join(lines)


if __name__ == "__main__":  # `python -m mlmonitor.checks.registry` prints the README's table
    print(checks_table())
