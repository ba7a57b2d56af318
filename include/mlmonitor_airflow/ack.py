"""The body of `mlmonitor_ack`: store a mute, an acknowledgement or an unmute from its trigger form,
with the user who triggered the run (`dag_run.triggering_user_name`)."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from mlmonitor.config import get_model
from mlmonitor.errors import ConfigError
from mlmonitor.metrics import FAMILIES
from mlmonitor.storage import alert_state, mutes
from mlmonitor.window import Window, parse_instant
from mlmonitor_airflow.connections import warehouse_engine

log = logging.getLogger(__name__)
ANY = "any"
ACTIONS = ("mute", "acknowledge", "unmute")
_FOREVER = Window(start=dt.datetime(9999, 1, 1, tzinfo=dt.UTC), end=dt.datetime(9999, 1, 2, tzinfo=dt.UTC))


def record(params: dict[str, Any], user: str | None, now: dt.datetime) -> str:
    """Store what the form asks for; returns the sentence the task logs."""
    action = str(params.get("action") or "mute")
    if action not in ACTIONS:
        raise ConfigError(f"trigger form field 'action': {action!r}; use one of {list(ACTIONS)}")
    model = get_model(str(params.get("model") or ""))
    check = str(params.get("check") or ANY)
    if check != ANY and check not in FAMILIES:
        raise ConfigError(f"trigger form field 'check': {check!r}; use {ANY!r} or one of {list(FAMILIES)}")
    check = "" if check == ANY else check
    column = str(params.get("column") or "").strip()
    reason = str(params.get("reason") or "").strip()
    engine = warehouse_engine(model.results_conn_id or model.warehouse_conn_id)
    if action == "unmute":
        until = now
    elif not params.get("until"):
        raise ConfigError(f"trigger form field 'until': give the date the {action} ends, e.g. 2024-04-05")
    else:
        until = parse_instant(str(params["until"]), "until")
        if until <= now and action == "mute":
            log.warning("'until' %s is in the past: the mute covers only windows that started before it", until)
    labels: tuple[str, ...] = ()
    if action == "acknowledge":
        last = alert_state.for_window(engine, model.name, _FOREVER)[1]
        if last is None or last.kind == "recovery":
            raise ConfigError(
                f"nothing to acknowledge: the last message about {model.name} was "
                f"{'a recovery' if last else 'never sent'}; mute a check or a column instead (action 'mute')"
            )
        probe = mutes.Mute(
            model=model.name, kind="mute", check=check, column=column, until=until, set_by="", set_at=now
        )
        labels = tuple(label for label in last.failing if probe.covers(*mutes.check_and_column(label)))
        if not labels:
            raise ConfigError(
                f"the last alert about {model.name} reports {list(last.failing)}: none of it is in check "
                f"{check or ANY!r}, column {column or ANY!r}; widen the check or clear the column"
            )
    mute = mutes.Mute(
        model=model.name,
        kind=action,  # type: ignore[arg-type]  # checked against ACTIONS above
        check=check,
        column=column,
        labels=labels,
        until=until,
        reason=reason,
        set_by=user or "unknown (the run has no triggering user)",
        set_at=now,
    )
    mutes.add(engine, mute)
    scope = f"check {check or ANY}, column {column or ANY}" + (f", alerts {list(labels)}" if labels else "")
    message = f"{model.name}: {action} of {scope} by {mute.set_by} until {until:%Y-%m-%d %H:%M} UTC"
    log.info("%s", message)
    return message
