"""One monitor DAG and one baseline DAG per model YAML in $MLMONITOR_MODELS_DIR (see README).

Parsing reads the YAML files and nothing else. A broken YAML does not hide the other models: it
becomes a placeholder DAG `mlmonitor_invalid_config_<file>` whose description, docs and only task
carry the error naming the file, the field and the fix (`mlmonitor check-config` finds it before
deploy). Only an unusable models folder makes this file an import error.
"""

from __future__ import annotations

import logging

from mlmonitor.config import load_models_and_errors
from mlmonitor_airflow.dag_factory import build_dags

_models, _broken = load_models_and_errors()
for _message in _broken.values():
    logging.getLogger(__name__).error("mlmonitor: %s", _message)
globals().update(build_dags(_models, _broken))
