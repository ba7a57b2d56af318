"""Drift methods: one descriptor per effect size, registered in one place.

The model YAML's allowed `numeric_method` / `categorical_method` / `drift.columns.<c>.method`, their
default thresholds, the error for an unknown name and the audit trail's `why` all come from this
registry. Adding a method is one function and one `register_drift_method` call (in this module for a
built-in, or in your own package: see README "Extending mlmonitor").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from mlmonitor.checks.drift_stats import (
    ColumnInput,
    ColumnKind,
    chi2_statistic,
    jensen_shannon,
    ks_binned,
    linf,
    numeric_mean_shift,
    psi,
    unseen_share,
    wasserstein,
)
from mlmonitor.entry_points import load_once
from mlmonitor.errors import ConfigError

ENTRY_POINT_GROUP = "mlmonitor.drift_methods"
KINDS: tuple[ColumnKind, ...] = ("numeric", "categorical")


@dataclass(frozen=True, kw_only=True)
class DriftMethod:
    """An effect size between a column's training and window counts.

    Attributes:
        name: the value users write in the model YAML.
        kinds: the column kinds it applies to.
        default_threshold: the effect size that counts as a material change when the YAML sets none.
        label: a plain-language name for charts and messages.
        why: why one would choose it (stored in every decision row's audit trail).
        measure: the effect size of one column (larger is more drift).
    """

    name: str
    kinds: frozenset[ColumnKind]
    default_threshold: float
    label: str
    why: str
    measure: Callable[[ColumnInput], float]


_METHODS: dict[str, DriftMethod] = {}


def register_drift_method(method: DriftMethod, *, replace: bool = False) -> DriftMethod:
    """Make `method` available to every model YAML; a name already taken is refused unless `replace`."""
    if method.name in _METHODS and not replace and _METHODS[method.name] is not method:
        raise ValueError(f"drift method {method.name!r} is already registered; pass replace=True to override it")
    unknown = set(method.kinds) - set(KINDS)
    if not method.kinds or unknown:
        raise ValueError(f"drift method {method.name!r}: kinds must be some of {KINDS}, got {sorted(method.kinds)}")
    _METHODS[method.name] = method
    return method


def unregister_drift_method(name: str) -> None:
    """Forget a registered method (tests, or a deployment replacing a plugin)."""
    _METHODS.pop(name, None)


def _register_from_entry_point(method: DriftMethod) -> None:
    register_drift_method(method, replace=True)


def drift_methods(kind: ColumnKind | None = None) -> tuple[DriftMethod, ...]:
    """The registered methods (of one column kind), in registration order (each kind's default first)."""
    load_once(ENTRY_POINT_GROUP, DriftMethod, _register_from_entry_point)
    return tuple(m for m in _METHODS.values() if kind is None or kind in m.kinds)


def _choice(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def drift_method(name: str, kind: ColumnKind | None = None) -> DriftMethod:
    """The method called `name` (usable on `kind` columns); the error lists what is known."""
    load_once(ENTRY_POINT_GROUP, DriftMethod, _register_from_entry_point)
    method = _METHODS.get(name)
    if method is None:
        raise ConfigError(f"unknown drift method {name!r}; known: {', '.join(m.name for m in drift_methods())}")
    if kind is not None and kind not in method.kinds:
        usable = [m.name for m in drift_methods(kind)]
        kinds = " and ".join(k for k in KINDS if k in method.kinds)
        raise ConfigError(f"drift method {name!r} is for {kinds} columns, not {kind} ones; use {_choice(usable)}")
    return method


def distances(c: ColumnInput) -> dict[str, float]:
    """Every registered distance of the column's kind, plus the chi-squared statistic (and, for
    categorical columns, the share of unseen values), for the audit trail."""
    out = {m.name: m.measure(c) for m in drift_methods(c.kind)}
    out["chi2"] = chi2_statistic(c.reference, c.current)[0]
    if c.kind == "numeric" and c.current_mean is not None:
        out["mean_shift"] = numeric_mean_shift(c)
    if c.kind == "categorical":
        out["unseen_share"] = unseen_share(c.reference[-1], sum(c.reference), c.current[-1], sum(c.current))
    return out


# ---------------------------------------------------------------- the built-in methods

NUMERIC: frozenset[ColumnKind] = frozenset({"numeric"})
BOTH: frozenset[ColumnKind] = frozenset(KINDS)

register_drift_method(
    DriftMethod(
        name="wasserstein",
        kinds=NUMERIC,
        default_threshold=0.1,
        label="distance moved (training std)",
        why="how far the values moved, in training standard deviations (0.1 = a tenth of a std): "
        "readable, and sensitive to shifts of location and spread alike; binned over the frozen training bins "
        "with the training bin means as atoms, and never below the exact shift of the mean (a shift inside a "
        "bin is measured at its true size)",
        measure=wasserstein,
    )
)
register_drift_method(
    DriftMethod(
        name="linf",
        kinds=frozenset({"categorical"}),
        default_threshold=0.05,
        label="largest change of one category's share",
        why="largest change of one category's share, 'other' (unseen values) included: a surging or new "
        "category is not diluted across the others as in PSI or JS",
        measure=lambda c: linf(c.reference, c.current),
    )
)
register_drift_method(
    DriftMethod(
        name="psi",
        kinds=BOTH,
        default_threshold=0.1,
        label="population stability index",
        why="population stability index over the frozen bins: the industry's classic stability measure",
        measure=lambda c: psi(c.reference, c.current),
    )
)
register_drift_method(
    DriftMethod(
        name="js",
        kinds=BOTH,
        default_threshold=0.1,
        label="Jensen-Shannon distance",
        why="Jensen-Shannon distance over the frozen bins: bounded in [0, 1] and symmetric",
        measure=lambda c: jensen_shannon(c.reference, c.current),
    )
)
register_drift_method(
    DriftMethod(
        name="ks",
        kinds=NUMERIC,
        default_threshold=0.1,
        label="largest gap between the distributions (KS)",
        why="Kolmogorov-Smirnov distance of the binned CDFs (max CDF gap at the frozen bin edges); the exact KS "
        "would need every value sorted, i.e. raw rows out of the warehouse",
        measure=lambda c: ks_binned(c.reference, c.current),
    )
)
