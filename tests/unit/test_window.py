"""The monitoring window [start, end) and its trigger parameters."""

from __future__ import annotations

import datetime as dt

import pytest

from mlmonitor.errors import ConfigError
from mlmonitor.window import Window, last_complete_interval, parse_instant, schedule_windows, window_from_params

UTC = dt.UTC
D_START = dt.datetime(2024, 3, 1)  # a naive data interval, as read from Airflow in tests
D_END = dt.datetime(2024, 3, 2)


def test_defaults_are_the_data_interval_read_as_utc() -> None:
    w = window_from_params(None, None, D_START, D_END)
    assert w == Window(dt.datetime(2024, 3, 1, tzinfo=UTC), dt.datetime(2024, 3, 2, tzinfo=UTC))
    assert w.label == "[2024-03-01T00:00:00+00:00, 2024-03-02T00:00:00+00:00)"


def test_empty_strings_fall_back_to_the_interval() -> None:
    assert window_from_params("", "", D_START, D_END) == window_from_params(None, None, D_START, D_END)


def test_params_override_the_interval() -> None:
    w = window_from_params("2024-05-01T06:00:00", "2024-05-01T12:30:00", D_START, D_END)
    assert w.start == dt.datetime(2024, 5, 1, 6, tzinfo=UTC)
    assert w.end == dt.datetime(2024, 5, 1, 12, 30, tzinfo=UTC)


def test_only_one_param_overrides_one_end() -> None:
    w = window_from_params("2024-03-01T18:00:00", None, D_START, D_END)
    assert (w.start, w.end) == (dt.datetime(2024, 3, 1, 18, tzinfo=UTC), dt.datetime(2024, 3, 2, tzinfo=UTC))


def test_naive_iso_and_date_only_are_utc() -> None:
    assert parse_instant("2024-03-01T10:00:00", "x") == dt.datetime(2024, 3, 1, 10, tzinfo=UTC)
    assert parse_instant(" 2024-03-01 ", "x") == dt.datetime(2024, 3, 1, tzinfo=UTC)
    assert parse_instant("2024-03-01", "x").tzinfo is UTC


def test_z_suffix_and_offsets_are_converted_to_utc() -> None:
    assert parse_instant("2024-03-01T10:00:00Z", "x") == dt.datetime(2024, 3, 1, 10, tzinfo=UTC)
    # 02:00 at +02:00 is 00:00 UTC
    v = parse_instant("2024-03-01T02:00:00+02:00", "x")
    assert v == dt.datetime(2024, 3, 1, 0, tzinfo=UTC)
    assert v.utcoffset() == dt.timedelta(0)
    # end 03:00+01:00 is 02:00Z, so the window is 2 hours long
    w = window_from_params("2024-03-01T00:00:00Z", "2024-03-01T03:00:00+01:00", D_START, D_END)
    assert w.end == dt.datetime(2024, 3, 1, 2, tzinfo=UTC)
    assert w.end - w.start == dt.timedelta(hours=2)


def test_aware_defaults_are_converted_to_utc() -> None:
    plus2 = dt.timezone(dt.timedelta(hours=2))
    w = window_from_params(
        None, None, dt.datetime(2024, 3, 1, 2, tzinfo=plus2), dt.datetime(2024, 3, 2, 2, tzinfo=plus2)
    )
    assert w.start == dt.datetime(2024, 3, 1, tzinfo=UTC)
    assert w.start.tzinfo is UTC


@pytest.mark.parametrize(
    ("start", "end"),
    [("2024-03-02", "2024-03-01"), ("2024-03-01T00:00:00Z", "2024-03-01T01:00:00+01:00")],  # before / equal
)
def test_end_not_after_start_names_window_end(start: str, end: str) -> None:
    with pytest.raises(ConfigError) as err:
        window_from_params(start, end, D_START, D_END)
    msg = str(err.value)
    assert msg.startswith("window_end ")
    assert "must be after window_start" in msg
    assert "fix the params" in msg


def test_start_param_after_default_end_names_window_end() -> None:
    with pytest.raises(ConfigError, match=r"window_end 2024-03-02T00:00:00\+00:00 must be after window_start"):
        window_from_params("2024-03-05", None, D_START, D_END)


def test_garbage_start_names_window_start() -> None:
    with pytest.raises(ConfigError) as err:
        window_from_params("yesterday", None, D_START, D_END)
    msg = str(err.value)
    assert msg.startswith("window_start: 'yesterday' is not an ISO 8601 datetime")
    assert "window_end" not in msg


def test_garbage_end_names_window_end() -> None:
    with pytest.raises(ConfigError, match=r"^window_end: '2024-13-01' is not an ISO 8601 datetime"):
        window_from_params(None, "2024-13-01", D_START, D_END)


def test_window_requires_aware_bounds_and_order() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        Window(dt.datetime(2024, 3, 1), dt.datetime(2024, 3, 2, tzinfo=UTC))
    with pytest.raises(ConfigError, match="must be after its start"):
        Window(dt.datetime(2024, 3, 2, tzinfo=UTC), dt.datetime(2024, 3, 1, tzinfo=UTC))
    assert Window.of(D_START, D_END).start == dt.datetime(2024, 3, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("schedule", "at", "expected"),
    [
        ("@daily", dt.datetime(2024, 3, 5, 13, tzinfo=dt.UTC), (dt.datetime(2024, 3, 4), dt.datetime(2024, 3, 5))),
        ("@daily", dt.datetime(2024, 3, 5, tzinfo=dt.UTC), (dt.datetime(2024, 3, 4), dt.datetime(2024, 3, 5))),
        (
            "@hourly",
            dt.datetime(2024, 3, 5, 13, 30, tzinfo=dt.UTC),
            (dt.datetime(2024, 3, 5, 12), dt.datetime(2024, 3, 5, 13)),
        ),
        (
            "0 6 * * 1",
            dt.datetime(2024, 3, 6, tzinfo=dt.UTC),
            (dt.datetime(2024, 2, 26, 6), dt.datetime(2024, 3, 4, 6)),
        ),
    ],
)
def test_last_complete_interval_for_runs_without_a_logical_date(
    schedule: str, at: dt.datetime, expected: tuple[dt.datetime, dt.datetime]
) -> None:
    start, end = last_complete_interval(schedule, at)
    assert (start, end) == tuple(t.replace(tzinfo=dt.UTC) for t in expected)


def test_schedule_windows_are_the_complete_intervals_of_the_range() -> None:
    utc = dt.UTC
    days = schedule_windows("@daily", dt.datetime(2024, 2, 29, 6), dt.datetime(2024, 3, 3, 12))
    assert [(w.start, w.end) for w in days] == [
        (dt.datetime(2024, 3, 1, tzinfo=utc), dt.datetime(2024, 3, 2, tzinfo=utc)),
        (dt.datetime(2024, 3, 2, tzinfo=utc), dt.datetime(2024, 3, 3, tzinfo=utc)),
    ]
    hours = schedule_windows("0 */6 * * *", dt.datetime(2024, 3, 1, tzinfo=utc), dt.datetime(2024, 3, 2, tzinfo=utc))
    assert len(hours) == 4 and hours[0].start == dt.datetime(2024, 3, 1, tzinfo=utc)
    assert schedule_windows("@daily", dt.datetime(2024, 3, 1, 1), dt.datetime(2024, 3, 2)) == []
