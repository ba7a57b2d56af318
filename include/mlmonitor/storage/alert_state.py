"""Alert state: the `mlmonitor_alerts` table of delivered messages, beside the results tables.

A row is written only after a message was delivered, so an alert that could not be sent is not
marked sent and a later run still delivers it. One row per (model, window): a rerun of a window
finds its row and does not post twice.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from mlmonitor.config import Severity
from mlmonitor.dialect import LongText, UtcDateTime
from mlmonitor.storage.results import create_missing
from mlmonitor.storage.results import metrics as metrics_table
from mlmonitor.window import as_utc, utc_naive

AlertKind = Literal["alert", "change", "reminder", "recovery"]


@dataclass(frozen=True, kw_only=True)
class SentAlert:
    """One delivered message: a row of `mlmonitor_alerts`."""

    model: str
    window_start: dt.datetime
    window_end: dt.datetime
    kind: AlertKind
    severity: Severity | None
    failing: tuple[str, ...]
    since: dt.datetime | None
    destination: str
    sent_at: dt.datetime


metadata = sa.MetaData()

alerts = sa.Table(
    "mlmonitor_alerts",
    metadata,
    sa.Column("model", sa.String(128), primary_key=True),
    sa.Column("window_start", UtcDateTime, primary_key=True, comment="UTC"),
    sa.Column("window_end", UtcDateTime, nullable=False, comment="UTC"),
    sa.Column("kind", sa.String(16), nullable=False, comment="alert, change, reminder, recovery"),
    sa.Column("severity", sa.String(16), comment="warning, critical; NULL for a recovery"),
    sa.Column("failing", LongText, nullable=False, comment="JSON list of check:metric(column)"),
    sa.Column("since", UtcDateTime, comment="UTC start of the first window of this alert streak"),
    sa.Column("destination", sa.String(250), nullable=False, comment="connection id and channel, or the local file"),
    sa.Column("sent_at", UtcDateTime, nullable=False, comment="UTC"),
)


def ensure_table(engine: Engine) -> None:
    """Create `mlmonitor_alerts` if it does not exist (safe to call from every run)."""
    create_missing(metadata, engine)


def _sent(row: Any) -> SentAlert:
    return SentAlert(
        model=row.model,
        window_start=as_utc(row.window_start),
        window_end=as_utc(row.window_end),
        kind=row.kind,
        severity=row.severity,
        failing=tuple(json.loads(row.failing)),
        since=None if row.since is None else as_utc(row.since),
        destination=row.destination,
        sent_at=as_utc(row.sent_at),
    )


def for_window(engine: Engine, model: str, window_start: dt.datetime) -> tuple[SentAlert | None, SentAlert | None]:
    """(the message delivered for this window, the last one delivered for an earlier window)."""
    ensure_table(engine)
    a = alerts.c
    start = utc_naive(window_start)
    with engine.connect() as conn:
        this = conn.execute(sa.select(alerts).where(a.model == model, a.window_start == start)).first()
        before = conn.execute(
            sa.select(alerts).where(a.model == model, a.window_start < start).order_by(a.window_start.desc()).limit(1)
        ).first()
    return (_sent(this) if this else None, _sent(before) if before else None)


def record(engine: Engine, sent: SentAlert) -> None:
    """Mark a message delivered (call only after the post succeeded)."""
    ensure_table(engine)
    row = {
        "model": sent.model,
        "window_start": utc_naive(sent.window_start),
        "window_end": utc_naive(sent.window_end),
        "kind": sent.kind,
        "severity": sent.severity,
        "failing": json.dumps(list(sent.failing)),
        "since": None if sent.since is None else utc_naive(sent.since),
        "destination": sent.destination,
        "sent_at": utc_naive(sent.sent_at),
    }
    with engine.begin() as conn:
        conn.execute(alerts.delete().where(alerts.c.model == sent.model, alerts.c.window_start == row["window_start"]))
        conn.execute(alerts.insert(), [row])


def drift_streaks(
    engine: Engine, model: str, columns: Sequence[str], until: dt.datetime, limit: int = 100
) -> dict[str, int]:
    """Per column: how many consecutive monitored windows up to `until` (inclusive) it drifted in,
    from the drift rows of `mlmonitor_metrics` (at most `limit`)."""
    if not columns:
        return {}
    m = metrics_table
    stmt = (
        sa.select(m.c.column_name, m.c.window_start, m.c.status)
        .where(
            m.c.model == model,
            m.c.check_name == "drift",
            m.c.column_name.in_(list(columns)),
            m.c.window_start <= utc_naive(until),
        )
        .order_by(m.c.window_start.desc())
    )
    streaks = dict.fromkeys(columns, 0)
    broken: set[str] = set()
    with engine.connect() as conn:
        for column, _, status in conn.execute(stmt):
            if column in broken:
                continue
            if status == "ok" or streaks[column] >= limit:
                broken.add(column)
            else:
                streaks[column] += 1
    return streaks
