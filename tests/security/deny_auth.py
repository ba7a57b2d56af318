"""An auth manager for tests: Airflow's simple auth manager, except that nobody may read the DAG
`mlmonitor_secret` (the monitor DAG of the model `secret`). Set `[core] auth_manager` to
`tests.security.deny_auth.DenySecretModel`."""

from __future__ import annotations

from typing import Any

from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import SimpleAuthManager

DENIED_DAG = "mlmonitor_secret"


class DenySecretModel(SimpleAuthManager):
    def is_authorized_dag(self, *, method: Any, user: Any, access_entity: Any = None, details: Any = None) -> bool:
        if details is not None and getattr(details, "id", None) == DENIED_DAG:
            return False
        return bool(super().is_authorized_dag(method=method, user=user, access_entity=access_entity, details=details))
