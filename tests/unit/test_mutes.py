"""Mutes and acknowledgements: the table on SQLite, PostgreSQL and MariaDB, what each covers, and the
post decision with them applied."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from mlmonitor.alerting.policy import apply_mutes, decide_post
from mlmonitor.storage import mutes
from mlmonitor.storage.alert_state import SentAlert
from mlmonitor.storage.mutes import Mute

T0 = dt.datetime(2024, 4, 1, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
INCOME, REGION, NULLS = "drift:psi(income)", "drift:psi(region)", "validation:expect_column_values_to_not_be_null(x)"


def _mute(kind: str = "mute", *, check: str = "", column: str = "", labels: tuple[str, ...] = (), day: int = 0) -> Mute:
    return Mute(
        model="carloan",
        kind=kind,  # type: ignore[arg-type]
        check=check,
        column=column,
        labels=labels,
        until=T0 + 2 * DAY,
        reason="known upstream change ✓",
        set_by="alice",
        set_at=T0 + day * DAY,
    )


def test_stored_and_read_back_on_every_dialect(engine: sa.Engine) -> None:
    assert mutes.active(engine, "carloan", T0) == []
    income = _mute(check="drift", column="income")
    ack = _mute("acknowledge", labels=(NULLS,))
    mutes.add(engine, income)
    mutes.add(engine, ack)
    mutes.add(engine, _mute(check="stats"))
    found = mutes.active(engine, "carloan", T0)
    assert len(found) == 3
    assert income in found and ack in found
    assert mutes.active(engine, "carloan", T0 + 2 * DAY) == []  # ended: until is exclusive
    assert mutes.active(engine, "other", T0) == []
    # an unmute set later ends the mutes of its scope set before it
    mutes.add(engine, _mute("unmute", check="drift", day=1))
    assert {(m.check, m.column) for m in mutes.active(engine, "carloan", T0)} == {("", ""), ("stats", "")}


def test_what_a_mute_covers() -> None:
    assert _mute(check="drift", column="income").covers("drift", "income")
    assert not _mute(check="drift", column="income").covers("drift", "region")
    assert _mute(check="drift").covers("drift", "region") and not _mute(check="drift").covers("validation", "x")
    assert _mute(column="income").covers("validation", "income")
    assert _mute().covers("status", "")  # the whole model, no_data and error included
    assert _mute("acknowledge", labels=(INCOME,)).covers("drift", "income")
    assert not _mute("acknowledge", labels=(INCOME,)).covers("drift", "region")
    assert not _mute("unmute").covers("drift", "income")
    assert mutes.check_and_column("status:no_data") == ("status", "")
    assert mutes.check_and_column("health:p95(latency_ms)") == ("health", "latency_ms")


def _previous(failing: tuple[str, ...]) -> SentAlert:
    return SentAlert(
        model="carloan",
        window_start=T0 - DAY,
        window_end=T0,
        kind="alert",
        severity="warning",
        failing=failing,
        since=T0 - DAY,
        destination="x",
        sent_at=T0,
    )


def test_silenced_news_is_not_posted_anything_else_is() -> None:
    income = [_mute(check="drift", column="income")]
    first = decide_post(T0, "warning", (INCOME,), None, None, None)
    assert first.kind == "alert"
    quiet = apply_mutes(first, (INCOME,), income)
    assert quiet.kind is None
    assert quiet.reason == "alert not posted: muted by alice until 2024-04-03 00:00 UTC: known upstream change ✓"
    # something else fails too: posted
    assert apply_mutes(decide_post(T0, "warning", (INCOME, REGION), None, None, None), (INCOME, REGION), income).post
    # a change whose news is only the muted column: not posted; news elsewhere: posted
    change = decide_post(T0, "warning", (INCOME, REGION), None, _previous((REGION,)), None)
    assert change.kind == "change" and apply_mutes(change, (INCOME, REGION), income).kind is None
    other = decide_post(T0, "warning", (INCOME, NULLS), None, _previous((INCOME,)), None)
    assert apply_mutes(other, (INCOME, NULLS), income).kind == "change"
    # an acknowledged alert's reminder is not posted; a recovery always is
    ack = [_mute("acknowledge", labels=(INCOME,))]
    reminder = decide_post(T0, "warning", (INCOME,), None, _previous((INCOME,)), DAY)
    assert reminder.kind == "reminder" and apply_mutes(reminder, (INCOME,), ack).kind is None
    recovery = decide_post(T0, None, (), None, _previous((INCOME,)), None)
    assert apply_mutes(recovery, (), ack).kind == "recovery"


def test_an_acknowledged_quality_metric_does_not_silence_another() -> None:
    """Window-level quality rows all share ("performance", ""): an acknowledgement matches its labels exactly."""
    estimated, accuracy = "performance:estimated_accuracy()", "performance:accuracy()"
    ack = [_mute("acknowledge", labels=(estimated,))]
    assert mutes.covering(ack, estimated) == ack[0]
    assert mutes.covering(ack, accuracy) is None
    assert not ack[0].covers("performance", "", accuracy)
    first = decide_post(T0, "warning", (estimated,), None, None, None)
    assert apply_mutes(first, (estimated,), ack).kind is None  # what was acknowledged stays quiet
    both = decide_post(T0 + DAY, "warning", (accuracy, estimated), None, None, None)
    assert apply_mutes(both, (accuracy, estimated), ack).kind == "alert"  # the new finding posts
    # a mute (no labels) still covers the whole check
    assert mutes.covering([_mute(check="performance")], accuracy) is not None
