# mlmonitor on the official Airflow image, at the version pinned in pyproject.toml / requirements.lock.
FROM apache/airflow:3.3.2-python3.11

# The repository root is AIRFLOW_HOME (airflow.cfg resolves every path from it).
ENV AIRFLOW_HOME=/opt/airflow \
    AIRFLOW_CONFIG=/opt/airflow/airflow.cfg \
    MLMONITOR_GX_ROOT=/opt/airflow/expectations

COPY --chown=airflow:root requirements.lock pyproject.toml README.md /opt/airflow/
RUN pip install --no-cache-dir -r /opt/airflow/requirements.lock

COPY --chown=airflow:root include/ /opt/airflow/include/
COPY --chown=airflow:root dags/ /opt/airflow/dags/
COPY --chown=airflow:root plugins/ /opt/airflow/plugins/
COPY --chown=airflow:root expectations/ /opt/airflow/expectations/
COPY --chown=airflow:root airflow.cfg /opt/airflow/airflow.cfg
RUN pip install --no-cache-dir --no-deps -e /opt/airflow
