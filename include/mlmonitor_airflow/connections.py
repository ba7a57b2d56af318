"""Airflow Connections turned into SQLAlchemy engines and Slack hooks by their providers' hooks."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlmonitor.errors import ConfigError

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine


def warehouse_engine(conn_id: str) -> Engine:
    """The provider hook of the connection builds the engine (no hand-built URLs)."""
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        conn = BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        raise ConfigError(
            f"Airflow connection {conn_id!r} is not defined; create it (Admin > Connections, or "
            f"AIRFLOW_CONN_{conn_id.upper()}) or fix warehouse_conn_id in the model YAML"
        ) from None
    hook = conn.get_hook()  # type: ignore[no-untyped-call]
    if not hasattr(hook, "get_sqlalchemy_engine"):
        raise ConfigError(f"connection {conn_id!r} has type {conn.conn_type!r}, which is not a SQL database")
    engine: Engine = hook.get_sqlalchemy_engine()
    return engine


def has_connection(conn_id: str) -> bool:
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        return False
    return True
