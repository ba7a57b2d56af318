"""An `Alert` rendered as Slack Block Kit JSON, within Slack's limits.

Lists are cut to `top` items with "… and N more", every text stays within its block's limit and a
message keeps at most 50 blocks. `text` (the notification and fallback text) is the blocks' text
in order, links spelled out as `name: url`.

Every value is escaped (`&`, `<`, `>`) before it reaches mrkdwn, so a logged `<!channel>` or
`<https://evil|Data Docs>` shows as text instead of pinging the channel or disguising a link; the
only markup is ours (styles, links, and the owners' mentions).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from mlmonitor.alerting import mentions
from mlmonitor.alerting.message import ICONS, Alert, Line, Listing, Paragraph, cut

MAX_BLOCKS = 50
MAX_TEXT = 3000  # characters of a section's text (Slack rejects more)
MAX_HEADER = 150
MAX_FIELD = 2000
_LINK = re.compile(r"<([^|>]+)\|([^>]+)>")
_LINE = 400  # one bullet; longer ones are cut so a list still shows several items
_MARK = {"plain": "{}", "strong": "*{}*", "code": "`{}`", "pre": "```{}```", "link": "{}"}


@dataclass(frozen=True)
class SlackMessage:
    """`text` is the notification / fallback text, `blocks` the Block Kit layout."""

    text: str
    blocks: list[dict[str, Any]]


def escape(text: str) -> str:
    """Plain text made inert in mrkdwn: Slack's three control characters as entities."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def mrkdwn(line: Line) -> str:
    """A line of spans in Slack's mrkdwn (each span's text escaped)."""
    return "".join(
        _link(span.url, span.text) if span.style == "link" and span.url else _MARK[span.style].format(escape(span.text))
        for span in line
    )


def _link(url: str, name: str) -> str:
    return f"<{escape(url).replace('|', '%7C')}|{escape(name)}>"


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": cut(text, MAX_TEXT)}}


def _listing(title: str, lines: Sequence[str], top: int) -> str:
    """A titled bullet list of at most `top` lines and MAX_TEXT characters, then "… and N more"."""
    shown = [cut(line, _LINE) for line in lines[:top]]
    while True:
        rest = len(lines) - len(shown)
        text = "\n".join([f"*{title} ({len(lines)})*", *shown, *([f"… and {rest} more"] if rest else [])])
        if len(text) <= MAX_TEXT or not shown:
            return text
        shown.pop()


def _plain(blocks: Sequence[dict[str, Any]]) -> str:
    lines: list[str] = []
    for block in blocks:
        if "text" in block:
            text = block["text"]
            lines.append(escape(text["text"]) if text["type"] == "plain_text" else _LINK.sub(r"\2: \1", text["text"]))
        for field in block.get("fields", []):
            lines.append(field["text"].replace("*\n", ": ").replace("*", ""))
    return cut("\n".join(lines), MAX_TEXT)


Lookup = Callable[[str], str | None]


def _people(alert: Alert, lookup: Lookup | None) -> str:
    def render(name: str) -> str:
        return mentions.mrkdwn(name, lookup, escape)

    parts = (mentions.line("Owners", alert.owners, render), mentions.line("Subscribers", alert.subscribers, render))
    return " · ".join(p for p in parts if p)


def render_slack(alert: Alert, top: int = 5, lookup: Lookup | None = None) -> SlackMessage:
    """The Block Kit message of `alert`; lists show at most `top` items. Owners and subscribers are
    mentioned; `lookup` (e-mail -> user id, when the connection can look users up) resolves e-mails."""
    header = {
        "type": "header",
        "text": {"type": "plain_text", "text": cut(f"{ICONS[alert.tone]} {alert.label} · {alert.title}", MAX_HEADER)},
    }
    blocks: list[dict[str, Any]] = [header]
    if alert.facts:
        fields = [{"type": "mrkdwn", "text": cut(f"*{escape(k)}*\n{escape(v)}", MAX_FIELD)} for k, v in alert.facts]
        blocks.append({"type": "section", "fields": fields})
    people = _people(alert, lookup)
    if people:
        blocks.append(_section(people))
    for block in alert.blocks:
        if isinstance(block, Paragraph):
            blocks.append(_section("\n".join(mrkdwn(line) for line in block.lines)))
        elif isinstance(block, Listing):
            blocks.append(_section(_listing(escape(block.title), [mrkdwn(item) for item in block.items], top)))
    if alert.links:
        blocks.append(_section(" · ".join(_link(url, name) for name, url in alert.links)))
    if len(blocks) > MAX_BLOCKS:
        blocks = [*blocks[: MAX_BLOCKS - 1], _section(f"… and {len(blocks) - MAX_BLOCKS + 1} more sections")]
    return SlackMessage(_plain(blocks), blocks)
