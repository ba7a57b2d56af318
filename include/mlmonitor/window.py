"""The monitoring window: a half-open interval [start, end) of serving-log time, in UTC."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from mlmonitor.errors import ConfigError


@dataclass(frozen=True, order=True)
class Window:
    """A half-open UTC interval; both ends are timezone-aware."""

    start: dt.datetime
    end: dt.datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("window bounds must be timezone-aware")
        if self.end <= self.start:
            raise ConfigError(f"window end {self.end.isoformat()} must be after its start {self.start.isoformat()}")

    @classmethod
    def of(cls, start: dt.datetime, end: dt.datetime) -> Window:
        """Build a window, reading naive datetimes as UTC."""
        return cls(as_utc(start), as_utc(end))

    @property
    def label(self) -> str:
        return f"[{self.start.isoformat()}, {self.end.isoformat()})"


def as_utc(value: dt.datetime) -> dt.datetime:
    """An instant as an aware UTC datetime; a naive value is read as UTC (the stored form)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def utc_naive(value: dt.datetime) -> dt.datetime:
    """The stored form of an instant: naive UTC (a naive value is already UTC)."""
    return value if value.tzinfo is None else value.astimezone(dt.UTC).replace(tzinfo=None)


def parse_instant(text: str, field: str) -> dt.datetime:
    """Parse an ISO 8601 date or datetime (naive means UTC); the error names `field`."""
    try:
        value = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        raise ConfigError(
            f"{field}: {text!r} is not an ISO 8601 datetime; write e.g. 2024-03-01T00:00:00+00:00 or 2024-03-01"
        ) from None
    return as_utc(value)


def window_from_params(
    start: str | None, end: str | None, default_start: dt.datetime, default_end: dt.datetime
) -> Window:
    """The window of a run: explicit `window_start`/`window_end` params win over the data interval."""
    lo = parse_instant(start, "window_start") if start else as_utc(default_start)
    hi = parse_instant(end, "window_end") if end else as_utc(default_end)
    if hi <= lo:
        raise ConfigError(f"window_end {hi.isoformat()} must be after window_start {lo.isoformat()}; fix the params")
    return Window(lo, hi)


def schedule_interval(schedule: str, at: dt.datetime) -> dt.timedelta:
    """The length of the schedule's interval that starts after `at` (cron presets or 5 fields)."""
    from croniter import croniter

    it = croniter(schedule, at)
    first: dt.datetime = it.get_next(dt.datetime)
    second: dt.datetime = it.get_next(dt.datetime)
    return second - first


def last_complete_interval(schedule: str, at: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """The last full schedule interval ending at or before `at` (UTC): the window of a run that was
    triggered without a logical date, as Airflow infers it for a manual run with one."""
    from croniter import croniter

    end: dt.datetime = croniter(schedule, as_utc(at) + dt.timedelta(microseconds=1)).get_prev(dt.datetime)
    start: dt.datetime = croniter(schedule, end).get_prev(dt.datetime)
    return as_utc(start), as_utc(end)


def is_adhoc(schedule: str, window: Window) -> bool:
    """Whether a window given in the trigger form is ad hoc: not exactly one interval of the schedule
    (re-checking a whole scheduled window is not ad hoc)."""
    return last_complete_interval(schedule, window.end) != (window.start, window.end)
