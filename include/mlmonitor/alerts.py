"""What an alert says, built by pure functions; delivery lives elsewhere (Slack hook or a local file)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from pathlib import Path

from mlmonitor.metrics import Metric, RunSummary

ALERTING = frozenset({"warning", "alert", "no_data", "error"})
_TOP = 5
_ICON = {"ok": "✅", "warning": "⚠️", "alert": "🚨", "no_data": "❔", "error": "💥"}


def should_alert(summary: RunSummary) -> bool:
    return summary.status in ALERTING


def _more(items: list[str], limit: int = _TOP) -> list[str]:
    return items[:limit] + ([f"… and {len(items) - limit} more"] if len(items) > limit else [])


def _failed_line(m: Metric) -> str:
    d = m.details
    seen = d.get("partial_unexpected_counts") or []
    values = ", ".join(sorted({str(v.get("value")) for v in seen})[:5])
    count = f"{d['unexpected_count']} rows, " if "unexpected_count" in d else ""
    share = f"{count}{m.value:.2f}% unexpected" if m.value is not None else "failed"
    rule = {k: v for k, v in d.get("kwargs", {}).items() if k != "column"}
    return f"• {m.metric} on `{m.column or 'table'}`: {share}; expected {rule}" + (f"; e.g. {values}" if values else "")


def _drift_line(m: Metric) -> str:
    return (
        f"• `{m.column}` PSI {m.value:.3f} (threshold {m.threshold}), q={m.p_value:.2g}, n={m.details.get('n_window')}"
    )


def alert_text(summary: RunSummary, metrics: Sequence[Metric], links: dict[str, str] | None = None) -> str:
    """A plain-text alert: what broke, how badly, for which window, and where the evidence is."""
    head = (
        f"{_ICON[summary.status]} mlmonitor {summary.model}: {summary.status.upper()} for window "
        f"{summary.window_start} → {summary.window_end} ({summary.rows} rows; versions "
        f"{', '.join(summary.model_versions) or 'n/a'})"
    )
    lines = [head]
    if summary.status == "no_data":
        lines.append("No serving rows in this window: is the model serving, and is logging working?")
    failed = [m for m in metrics if m.check == "validation" and m.status != "ok"]
    if failed:
        lines.append(f"Failed expectations ({len(failed)}):")
        lines += _more([_failed_line(m) for m in failed])
    drifted = [m for m in metrics if m.check == "drift" and m.column and m.status != "ok"]
    if drifted:
        lines.append(f"Drifted columns ({len(drifted)}):")
        lines += _more([_drift_line(m) for m in sorted(drifted, key=lambda m: -(m.value or 0))])
    other = [m for m in metrics if m.check in {"stats", "health"} and m.status != "ok"]
    if other:
        lines.append("Other findings:")
        lines += _more(
            [f"• {m.check} {m.metric} on `{m.column}` = {m.value:.4g}" for m in other if m.value is not None]
        )
    for name, url in (links or {}).items():
        lines.append(f"{name}: {url}")
    return "\n".join(lines)


def append_local(path: Path, summary: RunSummary, text: str, now: dt.datetime) -> None:
    """Where alerts go without a Slack connection: one JSON line per alert."""
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "at": now.isoformat(),
        "model": summary.model,
        "window_start": summary.window_start,
        "status": summary.status,
        "text": text,
    }
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(record, ensure_ascii=False) + "\n")
