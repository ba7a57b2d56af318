"""An `Alert` rendered as plain text: for the task log, the local alerts file, the command line and
any destination without rich formatting (e-mail, a pager's notifier).

Identifiers keep their backticks so they stand out; no other markup.
"""

from __future__ import annotations

from mlmonitor.alerting.message import ICONS, Alert, Line, Listing, Paragraph


def spans_text(line: Line) -> str:
    """A line of spans as plain text (code keeps its backticks)."""
    return "".join(
        f"`{s.text}`" if s.style == "code" else f"{s.text}: {s.url}" if s.style == "link" else s.text for s in line
    )


def render_text(alert: Alert, top: int = 5) -> str:
    """The whole alert in plain text; lists show at most `top` items, then "… and N more"."""
    out = [f"{ICONS[alert.tone]} {alert.label} · {alert.title}"]
    out += [f"{name}: {value}" for name, value in alert.facts]
    people = [
        f"{title}: {', '.join(names)}"
        for title, names in (("Owners", alert.owners), ("Subscribers", alert.subscribers))
        if names
    ]
    if people:
        out.append(" · ".join(people))
    for block in alert.blocks:
        if isinstance(block, Paragraph):
            out += [spans_text(line) for line in block.lines]
        elif isinstance(block, Listing):
            out.append(f"{block.title} ({len(block.items)})")
            out += [spans_text(item) for item in block.items[:top]]
            if len(block.items) > top:
                out.append(f"… and {len(block.items) - top} more")
    if alert.links:
        out.append(" · ".join(f"{name}: {url}" for name, url in alert.links))
    return "\n".join(out)
