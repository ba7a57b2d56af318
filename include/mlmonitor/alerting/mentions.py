"""Owners and subscribers of a model: who an alert names, as Slack user ids, e-mail addresses or
user groups, and how each is written in Slack mrkdwn.

A user id (`U…`/`W…`) becomes `<@U…>`; a user group is given as `<!subteam^S…>` (or `S…`) and stays
one; an e-mail address becomes `<@U…>` when the destination can look it up (a bot token with
`users:read.email`: `users.lookupByEmail`) and plain text otherwise.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from typing import Literal

MentionKind = Literal["user", "group", "email"]
_USER = re.compile(r"^[UW][A-Z0-9]{2,20}$")
_GROUP = re.compile(r"^(?:<!subteam\^)?(S[A-Z0-9]{2,20})(?:\|[^<>&|]{1,80})?>?$")
_EMAIL = re.compile(r"^[^@\s<>&|]+@[^@\s<>&|]+\.[^@\s<>&|]+$")
CHECKS = ("validation", "drift", "stats", "health", "performance", "anomaly")  # metrics.FAMILIES: the `check` of rows


def kind_of(text: str) -> MentionKind:
    """What a configured owner is; a ValueError says what is accepted."""
    if _USER.match(text):
        return "user"
    if _GROUP.match(text) and (text.startswith("<!subteam^") == text.endswith(">")):
        return "group"
    if _EMAIL.match(text):
        return "email"
    raise ValueError(
        f"{text!r} is not a Slack user id (U…/W…), a user group (<!subteam^S…> or S…) or an e-mail address; "
        "find a user's id in their Slack profile (⋮ > Copy member ID) and a group's id in its page URL"
    )


def group_id(text: str) -> str:
    match = _GROUP.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a Slack user group")
    return match.group(1)


def unique(names: Iterable[str]) -> tuple[str, ...]:
    """`names` in first-seen order without repeats."""
    return tuple(dict.fromkeys(names))


def mrkdwn(name: str, lookup: Callable[[str], str | None] | None, escape: Callable[[str], str]) -> str:
    """One owner in Slack mrkdwn: a mention, or the escaped address when it cannot be resolved.

    Args:
        name: a configured owner (see `kind_of`).
        lookup: e-mail -> Slack user id (None when unknown), or None when the destination cannot look up.
        escape: the mrkdwn escaping of plain text.
    """
    kind = kind_of(name)
    if kind == "user":
        return f"<@{name}>"
    if kind == "group":
        return f"<!subteam^{group_id(name)}>"
    user = lookup(name) if lookup is not None else None
    return f"<@{user}>" if user else escape(name)


def line(title: str, names: Sequence[str], render: Callable[[str], str]) -> str:
    """`Owners: a, b` (empty when nobody is named)."""
    return f"{title}: " + ", ".join(render(n) for n in names) if names else ""
