"""Any Airflow notifier as an alert destination, and the destinations of one severity.

A model YAML names a `BaseNotifier` subclass by dotted path (`alerts.notifiers`, or per severity
`alerts.<severity>.notifiers`); it gets the alert's plain text (`alerting.text`) in its
`text_argument` and its kwargs are rendered with `alert_text`, `alert_title`, `model`, `severity`
and `kind`. Classes are imported and their kwargs checked when the destinations are built, before
anything is sent, so a bad config fails the task with the file and field to fix.
"""

from __future__ import annotations

import importlib
import inspect
import json
import logging
from dataclasses import dataclass
from typing import Any

from mlmonitor.alerting.destinations import Destination, Fanout
from mlmonitor.alerting.message import ICONS, Alert
from mlmonitor.alerting.text import render_text
from mlmonitor.config import AlertsConfig, NotifierConfig, Severity, model_file
from mlmonitor.errors import ConfigError

log = logging.getLogger(__name__)


def _where(model: str, field: str) -> str:
    return f"{model_file(model)}: field '{field}'"


def notifier_class(model: str, field: str, config: NotifierConfig) -> type[Any]:
    """The notifier class named by `config.notifier`; a ConfigError naming the file and field otherwise."""
    from airflow.sdk import BaseNotifier

    module_name, _, name = config.notifier.rpartition(".")
    fix = (
        "give the dotted path of a BaseNotifier subclass installed where the tasks run, e.g. "
        "airflow.providers.smtp.notifications.smtp.SmtpNotifier"
    )
    try:
        found = getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(
            f"{_where(model, field + '.notifier')}: cannot import {config.notifier!r} ({type(exc).__name__}: {exc}); "
            f"fix: {fix}"
        ) from None
    if not (isinstance(found, type) and issubclass(found, BaseNotifier)):
        raise ConfigError(
            f"{_where(model, field + '.notifier')}: {config.notifier!r} is not a notifier class; fix: {fix}"
        )
    return found


def _accepted(cls: type[Any]) -> tuple[set[str], bool]:
    """Keyword arguments the constructors along the MRO take (a `**kwargs` passes the rest up), and
    whether any keyword at all is taken (the chain ends in `**kwargs`)."""
    names: set[str] = set()
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None or klass is object:
            continue
        params = inspect.signature(init).parameters.values()
        names |= {p.name for p in params if p.kind in {p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY}} - {"self"}
        if not any(p.kind == p.VAR_KEYWORD for p in params):
            return names, False
    return names, True


def _check_arguments(model: str, field: str, config: NotifierConfig, cls: type[Any]) -> None:
    """The kwargs, text and title arguments bind to the class's constructor, or a ConfigError that lists them."""
    filled = {k: "" for k in (config.text_argument, config.title_argument) if k}
    given = {**config.kwargs, **filled}
    accepted, open_ended = _accepted(cls)
    unknown = sorted(set(given) - accepted)
    problem = None if open_ended or not unknown else f"unexpected arguments {unknown}"
    if problem is None:
        try:
            inspect.signature(cls).bind(**given)
        except TypeError as exc:
            problem = str(exc)
    if problem:
        raise ConfigError(
            f"{_where(model, field + '.kwargs')}: {cls.__name__} does not take these arguments ({problem}); "
            f"its parameters are: {', '.join(sorted(accepted - {'context'}))}; "
            "fix the kwargs, text_argument or title_argument"
        )


@dataclass(frozen=True)
class NotifierDestination:
    """An Airflow notifier class with its YAML arguments; a fresh instance per alert (notifiers render
    their template fields in place)."""

    model: str
    field: str
    config: NotifierConfig
    cls: type[Any]
    top: int = 5

    def __str__(self) -> str:
        return f"{self.cls.__name__} ({self.field})"

    def identity(self) -> str:
        """The notifier class and its arguments: two models' notifiers with these equal are one target."""
        c = self.config
        arguments = json.dumps([c.kwargs, c.text_argument, c.title_argument], sort_keys=True, default=str)
        return f"{self.cls.__module__}.{self.cls.__qualname__} {arguments}"

    def send(self, alert: Alert) -> str:
        text = render_text(alert, self.top)
        title = f"{ICONS[alert.tone]} {alert.label} · {alert.title}"
        arguments = dict(self.config.kwargs)
        # given as templates, not values, so Jinja never renders text that came from the data
        templated = set(getattr(self.cls, "template_fields", ()))
        for keyword, value, variable in (
            (self.config.text_argument, text, "alert_text"),
            (self.config.title_argument, title, "alert_title"),
        ):
            if keyword:
                arguments[keyword] = "{{ " + variable + " }}" if keyword in templated else value
        context = {
            "alert_text": text,
            "alert_title": title,
            "model": alert.model,
            "severity": alert.severity or "",
            "kind": alert.kind,
        }
        notifier = self.cls(**arguments)
        notifier(context)
        return str(self)


def notifier_destination(model: str, field: str, config: NotifierConfig, top: int = 5) -> NotifierDestination:
    """The destination of one `alerts...notifiers[i]` entry, checked (import and arguments) now."""
    cls = notifier_class(model, field, config)
    _check_arguments(model, field, config, cls)
    return NotifierDestination(model, field, config, cls, top)


def destinations_for(model: str, alerts: AlertsConfig, severity: Severity) -> Destination:
    """Slack (or the local alerts file) on the severity's route, plus its Airflow notifiers."""
    from mlmonitor_airflow.slack import destination_for

    notifiers = [notifier_destination(model, f, c, alerts.top) for f, c in alerts.notifiers_for(severity)]
    base = destination_for(alerts, severity)
    return Fanout((base, *notifiers)) if notifiers else base
