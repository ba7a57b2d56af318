# mlmonitor on the official Airflow image, at the version pinned in pyproject.toml / requirements.lock
# (tests/deploy/ checks that the tag, the pin and the Python version agree).
FROM apache/airflow:3.3.2-python3.11

# The repository root is AIRFLOW_HOME (airflow.cfg resolves every path from it). MLMONITOR_GX_ROOT
# (suites, baselines, GE stores, Data Docs) is a volume every component mounts (docker-compose.yaml).
ENV AIRFLOW_HOME=/opt/airflow \
    AIRFLOW_CONFIG=/opt/airflow/airflow.cfg \
    MLMONITOR_MODELS_DIR=/opt/airflow/include/models \
    MLMONITOR_GX_ROOT=/opt/airflow/expectations

# Dependencies first (a layer that only changes with the lock): the project's requirements resolved
# with requirements.lock as constraints, so every version is the pinned one and the image's own
# apache-airflow is kept (the lock pins the same version); dev tools in the lock are not installed.
COPY --chown=airflow:root requirements.lock pyproject.toml README.md /opt/airflow/
COPY --chown=airflow:root include/ /opt/airflow/include/
RUN pip install --no-cache-dir -c /opt/airflow/requirements.lock -e /opt/airflow

COPY --chown=airflow:root dags/ /opt/airflow/dags/
COPY --chown=airflow:root plugins/ /opt/airflow/plugins/
COPY --chown=airflow:root expectations/ /opt/airflow/expectations/
COPY --chown=airflow:root airflow.cfg /opt/airflow/airflow.cfg
# mount points of the shared volumes, owned by the airflow user so fresh named volumes inherit it
RUN mkdir -p /opt/airflow/var/logs /opt/airflow/expectations
