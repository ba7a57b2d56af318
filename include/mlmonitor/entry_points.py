"""Extensions that installed packages declare as Python entry points (`mlmonitor.checks`,
`mlmonitor.drift_methods`): found once per process, type-checked, handed to a registry."""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable
from typing import TypeVar

from mlmonitor.errors import ConfigError

T = TypeVar("T")
_loaded: set[str] = set()


def load_once(group: str, expected: type[T], register: Callable[[T], object]) -> None:
    """Register every object the entry points of `group` name, the first time this group is asked for."""
    if group in _loaded:
        return
    _loaded.add(group)
    for entry in importlib.metadata.entry_points(group=group):
        item = entry.load()
        if not isinstance(item, expected):
            raise ConfigError(f"entry point {entry.name} = {entry.value} ({group}) is not a {expected.__name__}")
        register(item)


def forget(group: str) -> None:
    """Look the group's entry points up again on the next request (tests; a reloaded environment)."""
    _loaded.discard(group)
