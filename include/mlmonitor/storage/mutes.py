"""Acknowledgements and mutes: the `mlmonitor_mutes` table beside the results tables.

A mute silences the alerts of a finding (a check, a column of a check, a column of any check, or the
whole model) for the windows that start before `until`; an acknowledgement silences exactly what was
failing in the model's last alert, so anything newly failing still posts. Findings stay recorded and
the dashboard shows them as muted, with who set the mute, until when and why. Rows are only added
(an unmute is a row whose `until` ends the earlier ones), so the table is also the audit trail.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from mlmonitor.dialect import LongText, UtcDateTime
from mlmonitor.storage.results import create_missing
from mlmonitor.window import as_utc, utc_naive

MuteKind = Literal["mute", "acknowledge", "unmute"]
_LABEL = re.compile(r"^(?P<check>[^:]+):(?P<metric>.*)\((?P<column>[^()]*)\)$")

metadata = sa.MetaData()

mutes = sa.Table(
    "mlmonitor_mutes",
    metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("model", sa.String(128), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False, comment="mute, acknowledge, unmute"),
    sa.Column("check_name", sa.String(64), nullable=False, comment="'' = every check"),
    sa.Column("column_name", sa.String(250), nullable=False, comment="'' = every column"),
    sa.Column("labels", LongText, nullable=False, comment="JSON list of check:metric(column) acknowledged; [] = all"),
    sa.Column("until", UtcDateTime, nullable=False, comment="UTC; covers windows starting before it"),
    sa.Column("reason", LongText, nullable=False),
    sa.Column("set_by", sa.String(250), nullable=False),
    sa.Column("set_at", UtcDateTime, nullable=False, comment="UTC"),
    sa.Index("ix_mlmonitor_mutes_model_until", "model", "until"),
)


def check_and_column(label: str) -> tuple[str, str]:
    """(check, column) of a failing label `check:metric(column)` or `status:<status>`."""
    found = _LABEL.match(label)
    if found:
        return found["check"], found["column"]
    return label.split(":", 1)[0], ""


@dataclass(frozen=True, kw_only=True)
class Mute:
    """One row of `mlmonitor_mutes`."""

    model: str
    kind: MuteKind
    check: str = ""
    column: str = ""
    labels: tuple[str, ...] = ()
    until: dt.datetime
    reason: str = ""
    set_by: str
    set_at: dt.datetime

    def covers(self, check: str, column: str, label: str | None = None) -> bool:
        """Whether the finding of `check` on `column` ('' for the window) is silenced by this row.

        An acknowledgement covers exactly the labels it lists: given the finding's `label`
        (`check:metric(column)`), only that label (quality rows of a window all share the check
        `performance` and no column, so an acknowledged metric does not silence another); without it
        (a finding the dashboard knows only by check and column), any listed label of that scope."""
        if self.kind == "unmute":
            return False
        if self.labels:
            if label is not None:
                return label in self.labels
            return (check, column) in {check_and_column(listed) for listed in self.labels}
        return self.check in {"", check} and self.column in {"", column}

    def describe(self) -> str:
        """e.g. "muted by alice until 2024-04-05 00:00 UTC: known upstream change"."""
        what = "acknowledged" if self.kind == "acknowledge" else "muted"
        return f"{what} by {self.set_by} until {self.until:%Y-%m-%d %H:%M} UTC" + (
            f": {self.reason}" if self.reason else ""
        )


def ensure_table(engine: Engine) -> None:
    """Create `mlmonitor_mutes` if it does not exist (safe to call from every run)."""
    create_missing(metadata, engine)


def add(engine: Engine, mute: Mute) -> None:
    """Store a mute, an acknowledgement or an unmute."""
    ensure_table(engine)
    row = {
        "model": mute.model,
        "kind": mute.kind,
        "check_name": mute.check,
        "column_name": mute.column,
        "labels": json.dumps(list(mute.labels)),
        "until": utc_naive(mute.until),
        "reason": mute.reason,
        "set_by": mute.set_by,
        "set_at": utc_naive(mute.set_at),
    }
    with engine.begin() as conn:
        conn.execute(mutes.insert(), [row])


def _mute(row: Any) -> Mute:
    return Mute(
        model=row.model,
        kind=row.kind,
        check=row.check_name,
        column=row.column_name,
        labels=tuple(json.loads(row.labels or "[]")),
        until=as_utc(row.until),
        reason=row.reason,
        set_by=row.set_by,
        set_at=as_utc(row.set_at),
    )


def active(engine: Engine, model: str, since: dt.datetime, limit: int = 500) -> list[Mute]:
    """The mutes and acknowledgements of `model` that reach past `since` (newest first), without those
    an unmute set later ended (an unmute's scope ends every earlier mute it covers)."""
    ensure_table(engine)
    m = mutes.c
    stmt = (
        sa.select(mutes)
        .where(m.model == model, m.until > utc_naive(since))
        .order_by(m.set_at.desc(), m.id.desc())
        .limit(limit)
    )
    ended = sa.select(mutes).where(m.model == model, m.kind == "unmute").order_by(m.set_at.desc()).limit(limit)
    with engine.connect() as conn:
        rows = [_mute(r) for r in conn.execute(stmt)]
        unmutes = [_mute(r) for r in conn.execute(ended)]
    return [r for r in rows if r.kind != "unmute" and not any(_ends(u, r) for u in unmutes)]


def _ends(unmute: Mute, mute: Mute) -> bool:
    return unmute.set_at >= mute.set_at and unmute.check in {"", mute.check} and unmute.column in {"", mute.column}


def for_window(found: Sequence[Mute], window_start: dt.datetime) -> list[Mute]:
    """The mutes among `found` that cover the window starting at `window_start`."""
    return [m for m in found if window_start < m.until]


def covering(found: Sequence[Mute], label: str) -> Mute | None:
    """The newest of `found` that silences the failing `label` (`check:metric(column)`), or None."""
    check, column = check_and_column(label)
    return next((m for m in found if m.covers(check, column, label)), None)
