"""Retention: what mlmonitor keeps of windows older than a cutoff is removed, so results rows, Data
Docs pages, validation results and the alerts file stop growing forever.

A window is old when it started before the cutoff (the cutoff is given by the caller: the retention
DAG's data interval end minus the retention days, so a re-run removes the same things).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from mlmonitor.names import schema_suite_name
from mlmonitor.project import GxProject
from mlmonitor.storage import results
from mlmonitor.window import utc_naive


def prune_results(engine: Engine, model: str, before: dt.datetime) -> tuple[int, int]:
    """Delete the run and metric rows of `model`'s windows that started before `before`, in one
    transaction; nothing when the results tables do not exist yet."""
    existing = set(sa.inspect(engine).get_table_names())
    if not {results.runs.name, results.metrics.name} <= existing:
        return 0, 0
    cutoff = utc_naive(before)
    deleted = []
    with engine.begin() as conn:
        for table in (results.metrics, results.runs):
            old = sa.and_(table.c.model == model, table.c.window_start < cutoff)
            deleted.append(conn.execute(sa.delete(table).where(old)).rowcount)
    metrics, runs = deleted
    return runs, metrics


def _window_start(run_folder: str) -> dt.datetime | None:
    """The window start of a validation run folder (`<model> <YYYY-MM-DDTHH:MM>`, as validate_window
    names runs); None for a folder of another layout (left alone)."""
    try:
        return dt.datetime.fromisoformat(unquote(run_folder).rpartition(" ")[2])
    except ValueError:
        return None


def prune_validations(project: GxProject, model: str, before: dt.datetime) -> int:
    """Remove the validation runs (Data Docs pages and stored validation results) of `model`'s suites
    whose window started before `before`. Returns the number of validation runs removed."""
    cutoff = utc_naive(before)
    removed: set[tuple[str, str]] = set()
    roots = (project.docs_dir / "validations", project.gx_dir / "uncommitted" / "validations")
    for suite in (model, schema_suite_name(model)):
        for root in roots:
            folder = root / suite
            if not folder.is_dir():
                continue
            for run in folder.iterdir():
                start = _window_start(run.name)
                if run.is_dir() and start is not None and start < cutoff:
                    shutil.rmtree(run)
                    removed.add((suite, run.name))  # its result JSON and its Data Docs page: one run
    return len(removed)


@contextlib.contextmanager
def alerts_lock(path: Path) -> Iterator[None]:
    """Serialises appends to the alerts file with its pruning (a lock file beside it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def prune_alerts(path: Path, before: dt.datetime) -> int:
    """Drop the alerts written (`at`) before `before` from the alerts file (JSON lines), rewriting it
    atomically; lines that cannot be read are kept. Returns the number of alerts removed."""
    if not path.exists():
        return 0
    cutoff = before if before.tzinfo else before.replace(tzinfo=dt.UTC)
    with alerts_lock(path):
        kept: list[str] = []
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        for line in lines:
            try:
                at = dt.datetime.fromisoformat(json.loads(line)["at"])
            except (ValueError, KeyError, TypeError):
                kept.append(line)
                continue
            if (at if at.tzinfo else at.replace(tzinfo=dt.UTC)) >= cutoff:
                kept.append(line)
        if len(kept) == len(lines):
            return 0
        scratch = path.with_name(path.name + ".tmp")
        with scratch.open("w", encoding="utf-8") as handle:
            handle.writelines(kept)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(scratch, path)
    return len(lines) - len(kept)
