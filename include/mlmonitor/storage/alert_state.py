"""Alert state: the `mlmonitor_alerts` table of messages about windows, beside the results tables.

One row per (model, window_start, window_end): the whole window is the key, so an ad-hoc run of
[00:00, 02:00) and the daily [00:00, 24:00) window are two rows, and a rerun of a window finds its
own row and does not post twice.

A row is `pending` while it waits for the grouped delivery of its tick (`alerts.group_threshold`,
the message in `payload`); it goes `sending` just before the post and `sent` just after it (`begin`
/ `finish`); a post that fails removes it (`abandon`), so a later run still delivers. A row left
`sending` means the post was attempted and could not be confirmed (typically: the results database
failed right after the post): the retry does not post it again (at most once; see
`policy.decide_post`). `slack_channel` / `slack_ts` say where the message is and `thread_ts` which
thread (the first alert of the streak) its follow-ups reply in; ad-hoc windows (`adhoc`) never take
part in a streak.
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
from mlmonitor.storage.results import create_missing, runs, scheduled_run
from mlmonitor.storage.results import metrics as metrics_table
from mlmonitor.window import Window, as_utc, utc_naive

AlertKind = Literal["alert", "change", "reminder", "recovery"]
DeliveryState = Literal["pending", "sending", "sent"]


@dataclass(frozen=True)
class MessageRef:
    """Where a posted message is: the channel id and the message ts Slack answered with."""

    channel: str
    ts: str


@dataclass(frozen=True, kw_only=True)
class SentAlert:
    """One message about one window: a row of `mlmonitor_alerts`.

    Attributes:
        state: `pending` (queued for the grouped delivery), `sending` (post attempted, not confirmed) or `sent`.
        message: where the message itself is (bot-token Slack only).
        thread: the first message of the streak, whose thread the follow-ups reply in.
        adhoc: a window from the trigger form's params, outside the streak.
        payload: the queued message and its route (JSON), while `pending`.
    """

    model: str
    window_start: dt.datetime
    window_end: dt.datetime
    kind: AlertKind
    severity: Severity | None
    failing: tuple[str, ...]
    since: dt.datetime | None
    destination: str
    sent_at: dt.datetime
    state: DeliveryState = "sent"
    message: MessageRef | None = None
    thread: MessageRef | None = None
    adhoc: bool = False
    payload: str | None = None

    @property
    def window(self) -> Window:
        return Window(self.window_start, self.window_end)


metadata = sa.MetaData()

alerts = sa.Table(
    "mlmonitor_alerts",
    metadata,
    sa.Column("model", sa.String(128), primary_key=True),
    sa.Column("window_start", UtcDateTime, primary_key=True, comment="UTC"),
    sa.Column("window_end", UtcDateTime, primary_key=True, comment="UTC"),
    sa.Column("state", sa.String(16), nullable=False, comment="pending, sending, sent"),
    sa.Column("adhoc", sa.Boolean(), nullable=False, comment="a trigger-form window, outside the streak"),
    sa.Column("kind", sa.String(16), nullable=False, comment="alert, change, reminder, recovery"),
    sa.Column("severity", sa.String(16), comment="warning, critical; NULL for a recovery"),
    sa.Column("failing", LongText, nullable=False, comment="JSON list of check:metric(column)"),
    sa.Column("since", UtcDateTime, comment="UTC start of the first window of this alert streak"),
    sa.Column("destination", sa.String(250), nullable=False, comment="connection id and channel, or the local file"),
    sa.Column("sent_at", UtcDateTime, nullable=False, comment="UTC"),
    sa.Column("slack_channel", sa.String(64), comment="channel id of the message (bot token)"),
    sa.Column("slack_ts", sa.String(32), comment="ts of the message (bot token)"),
    sa.Column("thread_ts", sa.String(32), comment="ts of the streak's first message: its thread"),
    sa.Column("payload", LongText, comment="JSON: the queued message and its route, while pending"),
)

_checked: set[str] = set()  # databases whose table this process has checked


def ensure_table(engine: Engine) -> None:
    """Create `mlmonitor_alerts` if it does not exist, and rebuild one an earlier version created with
    the key (model, window_start): its rows are kept, as `sent` (safe to call from every run)."""
    key = engine.url.render_as_string(hide_password=True)
    if key not in _checked:
        inspector = sa.inspect(engine)
        if inspector.has_table(alerts.name) and "window_end" not in (
            inspector.get_pk_constraint(alerts.name).get("constrained_columns") or []
        ):
            _rebuild(engine)
        _checked.add(key)
    create_missing(metadata, engine)


def _rebuild(engine: Engine) -> None:
    old = sa.Table(alerts.name, sa.MetaData(), autoload_with=engine)
    with engine.begin() as conn:
        rows = [dict(r._mapping) for r in conn.execute(sa.select(old))]
        old.drop(conn)
        alerts.create(conn)
        keep = {c.name for c in alerts.columns}
        if rows:
            conn.execute(
                alerts.insert(),
                [{"state": "sent", "adhoc": False, **{k: v for k, v in r.items() if k in keep}} for r in rows],
            )


def _ref(channel: str | None, ts: str | None) -> MessageRef | None:
    return MessageRef(channel, ts) if channel and ts else None


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
        state=row.state,
        message=_ref(row.slack_channel, row.slack_ts),
        thread=_ref(row.slack_channel, row.thread_ts),
        adhoc=bool(row.adhoc),
        payload=row.payload,
    )


def _key(model: str, window: Window) -> tuple[sa.ColumnElement[bool], ...]:
    a = alerts.c
    return a.model == model, a.window_start == utc_naive(window.start), a.window_end == utc_naive(window.end)


def for_window(engine: Engine, model: str, window: Window) -> tuple[SentAlert | None, SentAlert | None]:
    """(the row of this very window, the last row of a scheduled window starting before it).

    Ad-hoc windows' rows are never the "last row": they are outside the streak."""
    ensure_table(engine)
    a = alerts.c
    with engine.connect() as conn:
        this = conn.execute(sa.select(alerts).where(*_key(model, window))).first()
        before = conn.execute(
            sa.select(alerts)
            .where(a.model == model, a.window_start < utc_naive(window.start), a.adhoc == sa.false())
            .order_by(a.window_start.desc(), a.window_end.desc())
            .limit(1)
        ).first()
    return (_sent(this) if this else None, _sent(before) if before else None)


def _row(sent: SentAlert) -> dict[str, Any]:
    where = sent.message or sent.thread
    return {
        "model": sent.model,
        "window_start": utc_naive(sent.window_start),
        "window_end": utc_naive(sent.window_end),
        "state": sent.state,
        "adhoc": sent.adhoc,
        "kind": sent.kind,
        "severity": sent.severity,
        "failing": json.dumps(list(sent.failing)),
        "since": None if sent.since is None else utc_naive(sent.since),
        "destination": sent.destination,
        "sent_at": utc_naive(sent.sent_at),
        "slack_channel": where.channel if where else None,
        "slack_ts": sent.message.ts if sent.message else None,
        "thread_ts": sent.thread.ts if sent.thread else None,
        "payload": sent.payload,
    }


def record(engine: Engine, sent: SentAlert) -> None:
    """Write the row of `sent`'s window, replacing any earlier one (`begin` and `finish` use it)."""
    ensure_table(engine)
    row = _row(sent)
    with engine.begin() as conn:
        conn.execute(alerts.delete().where(*_key(sent.model, sent.window)))
        conn.execute(alerts.insert(), [row])


def begin(engine: Engine, sending: SentAlert) -> None:
    """Mark a message about to be posted (`state` sending): written before the post, so a retry after a
    failure that follows the post finds it and does not post again."""
    record(engine, sending)


def finish(engine: Engine, sent: SentAlert) -> None:
    """Mark the message delivered (`state` sent), with where it went (call only after the post)."""
    record(engine, sent)


def abandon(engine: Engine, model: str, window: Window) -> None:
    """Remove the `sending` row of a post that failed, so a rerun or a later run delivers it."""
    ensure_table(engine)
    with engine.begin() as conn:
        conn.execute(alerts.delete().where(*_key(model, window), alerts.c.state == "sending"))


def pending(engine: Engine) -> list[SentAlert]:
    """Every queued (`pending`) row of every model, oldest window first."""
    ensure_table(engine)
    a = alerts.c
    with engine.connect() as conn:
        rows = conn.execute(sa.select(alerts).where(a.state == "pending").order_by(a.window_start, a.model)).all()
    return [_sent(r) for r in rows]


def drift_streaks(
    engine: Engine, model: str, columns: Sequence[str], until: dt.datetime, limit: int = 100
) -> dict[str, int]:
    """Per column: how many consecutive monitored windows up to `until` (inclusive) it drifted in,
    from the drift rows of `mlmonitor_metrics` (at most `limit`); ad-hoc windows are left out."""
    if not columns:
        return {}
    m = metrics_table
    stmt = (
        sa.select(m.c.column_name, m.c.window_start, m.c.status)
        .select_from(m.join(runs, scheduled_run(m)))
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
