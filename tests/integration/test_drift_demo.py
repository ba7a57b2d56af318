"""Drift on the 60 demo days, on SQLite and PostgreSQL, through the core pipeline (no Airflow):
each baked-in incident is found on its day in its column, and clean days raise nothing."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from mlmonitor.checks.drift import drift_metrics
from mlmonitor.checks.drift_thresholds import with_learned_thresholds
from mlmonitor.config import get_model
from mlmonitor.demo import DAYS, INCIDENTS, START, write_demo
from mlmonitor.metrics import Metric
from mlmonitor.storage.baselines import derive_baseline
from mlmonitor.warehouse import resolve_tables
from mlmonitor.window import Window
from tests.warehouses import WAREHOUSES

pytestmark = pytest.mark.integration
AUDIT = {"method", "why", "n_train", "n_window", "bins_version", "threshold", "threshold_why", "p_value"}
AUDIT |= {"effect_size", "decision"}


@pytest.fixture(scope="module", params=WAREHOUSES)
def days(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[int, list[Metric]]]:
    """Drift metrics of every demo day, computed once per database."""
    if request.param != "sqlite":
        db: dict[str, Any] = request.getfixturevalue(f"{request.param}_database_module")
        url = db["url"]
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('drift')}/warehouse.db"
    engine = sa.create_engine(url)
    write_demo(engine)
    model = get_model("carloan")
    tables = resolve_tables(model, engine)
    baseline = with_learned_thresholds(model, engine, tables, derive_baseline(model, engine, tables))
    assert baseline.learned is not None, baseline.learned_note
    out = {}
    for day in range(DAYS):
        start = (START + dt.timedelta(days=day)).replace(tzinfo=dt.UTC)
        out[day] = drift_metrics(engine, model, tables, baseline, Window(start, start + dt.timedelta(days=1)))
    yield out
    engine.dispose()


def flagged(metrics: list[Metric]) -> dict[str, set[str]]:
    """column -> the drift metrics that flagged it."""
    out: dict[str, set[str]] = {}
    for m in metrics:
        if m.column and m.status != "ok":
            out.setdefault(m.column, set()).add(m.metric)
    return out


def test_clean_days_raise_nothing(days: dict[int, list[Metric]]) -> None:
    for day in range(INCIDENTS.income_drift_from):
        assert flagged(days[day]) == {}, f"day {day}"
        (share,) = [m for m in days[day] if m.metric == "drifted_share"]
        assert share.value == 0.0 and share.status == "ok"


def test_region_shift_from_day_40(days: dict[int, list[Metric]]) -> None:
    for day in range(DAYS):
        region = flagged(days[day]).get("region")
        assert (region == {"linf"}) if day >= INCIDENTS.region_shift_from else region is None, f"day {day}"


def test_income_drift_is_found_once_material_and_never_before_it_starts(days: dict[int, list[Metric]]) -> None:
    for day in range(DAYS):
        income = flagged(days[day]).get("income")
        if day < INCIDENTS.income_drift_from:
            assert income is None, f"day {day}"
        if day >= INCIDENTS.region_shift_from:  # +16.5 % and more: ~0.4 training std
            assert income == {"wasserstein"}, f"day {day}"


def test_quality_incident_on_day_45(days: dict[int, list[Metric]]) -> None:
    day = INCIDENTS.quality_incident
    found = flagged(days[day])
    assert found["credit_score"] == {"null_rate_shift"}  # the values themselves keep their shape
    assert found["employment_type"] == {"linf"}
    (emp,) = [m for m in days[day] if m.column == "employment_type" and m.metric == "linf"]
    assert emp.details["distances"]["unseen_share"] == pytest.approx(0.15, abs=0.03)
    assert emp.details["unseen_values"][0]["value"] == "gig_worker"
    for other in set(range(DAYS)) - {day}:
        assert "credit_score" not in flagged(days[other]), f"day {other}"
        assert "employment_type" not in flagged(days[other]), f"day {other}"


def test_untouched_columns_never_drift(days: dict[int, list[Metric]]) -> None:
    for day in range(DAYS):
        assert not {"age", "loan_amount", "debt_to_income", "purpose"} & set(flagged(days[day])), f"day {day}"


def test_every_drift_row_carries_its_audit_trail(days: dict[int, list[Metric]]) -> None:
    rows = [m for m in days[INCIDENTS.quality_incident] if m.column]
    assert {m.metric for m in rows} == {"wasserstein", "linf", "null_rate_shift"}
    for m in rows:
        assert set(m.details) >= AUDIT, m
        assert m.details["n_window"] > 1000 and m.details["n_train"] == 20_000
        assert m.details["decision"] == ("drift" if m.status == "warning" else "no drift")
        assert m.p_value == m.details["q_value"] and m.threshold == m.details["threshold"]
    (income,) = [m for m in rows if m.column == "income" and m.metric == "wasserstein"]
    assert set(income.details["distances"]) == {"wasserstein", "psi", "js", "ks", "chi2", "mean_shift"}
    # thresholds learned from training chunks of the served window size (~1,200 rows a day: 17 chunks)
    assert income.details["threshold_why"].startswith("learned: mean ")
    assert "17 training chunks of 1176 rows (serving rows per schedule interval" in income.details["threshold_why"]
