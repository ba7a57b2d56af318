"""One monitor DAG and one baseline DAG per model YAML in $MLMONITOR_MODELS_DIR (see README).

Parsing reads the YAML files and nothing else. A broken YAML makes this file an import error
that names the file, the field and the fix (`mlmonitor check-config` finds it before deploy).
"""

from __future__ import annotations

from mlmonitor.config import load_models
from mlmonitor_airflow.dag_factory import build_dags

globals().update(build_dags(load_models()))
