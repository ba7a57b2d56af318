"""One factory for the model configs tests need: a minimal valid YAML document, with sections merged in."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlmonitor.config import ModelConfig, parse_model


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
