"""window_length takes the bounds Airflow hands over (pendulum datetimes) as well as stdlib ones."""

from __future__ import annotations

import datetime as dt

import pendulum

from mlmonitor.checks.health import window_length
from mlmonitor.config import ModelConfig
from mlmonitor.window import Window
from tests.factories import model_config


def _model(schedule: str = "@daily") -> ModelConfig:
    return model_config(prediction={"task": "regression"}, schedule=schedule, start_date="2024-01-01")


def test_window_length_with_pendulum_bounds_from_airflow() -> None:
    start = pendulum.datetime(2024, 3, 1, tz="UTC")
    metric = window_length(_model(), Window(start, start.add(days=1)))
    assert (metric.value, metric.status) == (1.0, "ok")


def test_a_window_of_many_intervals_warns() -> None:
    start = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    metric = window_length(_model("@hourly"), Window(start, start + dt.timedelta(days=2)))
    assert (metric.value, metric.status) == (48.0, "warning")
