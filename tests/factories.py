"""Factories tests share: the model config (a minimal valid YAML document, with sections merged in), the
training and serving tables that config names, and a drift metric row."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from mlmonitor.config import ModelConfig, parse_model
from mlmonitor.dialect import Double
from mlmonitor.metrics import Metric


def model_config(name: str = "m", **sections: Any) -> ModelConfig:
    """A validated model config: training table `t`, serving table `s` (timestamp `ts`, id `id`),
    prediction `p` of a classifier, start 2024-03-01. Each keyword updates the section of its name
    (a mapping is merged into a mapping section; anything else replaces it), then the whole document
    goes through the same validation as a YAML file named `<name>.yaml`."""
    data: dict[str, Any] = {
        "name": name,
        "start_date": "2024-03-01",
        "training": {"table": "t"},
        "serving": {"table": "s", "timestamp_column": "ts", "id_column": "id"},
        "prediction": {"column": "p", "task": "classification"},
    }
    for key, value in sections.items():
        current = data.get(key)
        data[key] = {**current, **value} if isinstance(value, dict) and isinstance(current, dict) else value
    return parse_model(data, Path(f"{name}.yaml"))


def model_tables(engine: Engine) -> tuple[sa.Table, sa.Table]:
    """The training table `t` and serving table `s` of `model_config()`, created empty: id, ts, a
    numeric feature `x`, a categorical feature `c` and the prediction `p`."""
    md = sa.MetaData()

    def columns() -> list[sa.Column[Any]]:
        return [
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
            sa.Column("ts", sa.DateTime, nullable=False),
            sa.Column("x", Double),
            sa.Column("c", sa.String(8)),
            sa.Column("p", Double),
        ]

    t, s = sa.Table("t", md, *columns()), sa.Table("s", md, *columns())
    md.create_all(engine)
    return t, s


def drift_metric(column: str = "income") -> Metric:
    """A drifted column's row as the drift check writes it (warning, PSI 0.3 over 0.1)."""
    return Metric(
        check="drift",
        column=column,
        metric="psi",
        value=0.3,
        status="warning",
        threshold=0.1,
        p_value=1e-6,
        details={"method": "psi+chi2"},
    )
