"""The common shape of a window check: one context in, metric rows out, and a declaration of what
each status it gives means.

Every check of the monitor DAG's `stats` task (and of `mlmonitor run`) is a `WindowCheck` listed in
`checks.registry`; the pipeline loops over that list. The declarations (`summary`, `statuses`)
are what the DAG docs, the dashboard legend and the README's table of checks are made from.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from mlmonitor.config import ModelConfig
from mlmonitor.metrics import Metric, Status
from mlmonitor.storage.baselines import Baseline
from mlmonitor.storage.results import last_served_run, previous_metric, trailing_values
from mlmonitor.warehouse import ModelTables, window_filter
from mlmonitor.window import Window


@dataclass(frozen=True)
class History:
    """The model's stored metrics before the window being checked (from `mlmonitor_metrics`)."""

    engine: Engine
    model: str
    before: dt.datetime

    def trailing(self, check: str, column: str, metric: str, limit: int) -> list[float]:
        """Values of one metric in the `limit` most recent healthy windows, newest first."""
        return trailing_values(self.engine, self.model, check, column, metric, self.before, limit)

    def previous(self, check: str, column: str, metric: str) -> dict[str, Any] | None:
        """The newest stored row of one metric (any status), details parsed, or None."""
        return previous_metric(self.engine, self.model, check, column, metric, self.before)

    def previous_versions(self) -> tuple[dt.datetime, dict[str, int]] | None:
        """The start and the rows per model version of the newest earlier window that served rows."""
        run = last_served_run(self.engine, self.model, self.before)
        if run is None:
            return None
        raw = json.loads(run["model_versions"] or "{}")
        return run["window_start"], {str(k): int(v) for k, v in raw.items()}


@dataclass(frozen=True, kw_only=True)
class WindowContext:
    """Everything a check may read about one non-empty window.

    Attributes:
        model: the model's config (with this run's trigger-form overrides).
        engine: the warehouse (serving, training, labels and other tables).
        results_engine: where `mlmonitor_runs` / `mlmonitor_metrics` live (the history).
        tables: the reflected tables; `tables.features` are the features measurable in this window.
        baseline: the frozen training statistics.
        window: the half-open interval [start, end) being checked.
        rows: serving rows in the window (> 0).
        versions: rows per model version (empty without a version column).
        columns: the feature subset asked for in the trigger form or on the command line (None: all).
        produced: the rows the checks before this one produced for this window (the pipeline appends
            each check's rows), so a check may judge what others measured (e.g. `anomalies`).
    """

    model: ModelConfig
    engine: Engine
    results_engine: Engine
    tables: ModelTables
    baseline: Baseline
    window: Window
    rows: int
    versions: Mapping[str, int] = field(default_factory=dict)
    columns: Sequence[str] | None = None
    produced: list[Metric] = field(default_factory=list)

    @property
    def where(self) -> sa.ColumnElement[bool]:
        """The window predicate on the serving table's timestamp column."""
        return window_filter(self.tables.ts(self.model), self.window)

    @cached_property
    def history(self) -> History:
        return History(self.results_engine, self.model.name, self.window.start)


@dataclass(frozen=True, kw_only=True)
class CheckInfo:
    """What a check is, declared once.

    Attributes:
        name: a short identifier (unique across checks).
        family: the `check` value of its rows (`validation`, `drift`, `stats`, `health`, `performance`
            or one of your own).
        summary: what it checks, in one line.
        statuses: each status its rows may get, with the one-line condition that gives it.
    """

    name: str
    family: str
    summary: str
    statuses: Mapping[Status, str]


@dataclass(frozen=True, kw_only=True)
class WindowCheck(CheckInfo):
    """A check the pipeline runs on every non-empty window: `run(context)` returns its metric rows."""

    run: Callable[[WindowContext], Sequence[Metric]]
