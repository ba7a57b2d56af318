"""Per-model access and hostile values through the plugin's routes in the real API server app, with an
auth manager that denies the monitor DAG of the model `secret` and real Great Expectations Data Docs
of two models (`open`, `secret`) monitored on serving values made to break HTML.

Issue 16, findings 1 (Data Docs bypass per-model access: pages, GE's index, the model index, static
files) and 2 (Data Docs run scripts on Airflow's origin; values must be escaped everywhere).
"""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import pytest
import sqlalchemy as sa
import yaml

from mlmonitor.cli import run_window
from mlmonitor.config import get_model
from mlmonitor.ui.grants import make_grant
from tests.badinput import test_bad_input as matrix  # the tiny model's tables and rows

pytestmark = pytest.mark.integration
# values that would run script if any page put them into HTML unescaped
CITY = "<img src=x onerror=\"document.title='pwned'\">"
VERSION = "1.0.0<script>alert(1)</script>"
ID = '"><svg onload=alert(2)>'
RAW = ("<img src=x", "<script>alert", "<svg onload")
RUN_ID = "scheduled__2024-03-02T00:00:00+00:00"


def _model_yaml(name: str) -> dict[str, Any]:
    """The tiny model of the bad-input matrix under another name."""
    return {**matrix.tiny_model().model_dump(mode="json", exclude_defaults=True), "name": name}


@pytest.fixture(scope="module")
def site(airflow_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Two models monitored for one day by the real pipeline (GE validation, Data Docs, results tables)."""
    tmp = tmp_path_factory.mktemp("access")
    models = tmp / "models"
    models.mkdir()
    for name in ("open", "secret"):
        (models / f"{name}.yaml").write_text(yaml.safe_dump(_model_yaml(name)))
    db = tmp / "warehouse.db"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLMONITOR_MODELS_DIR", str(models))
        mp.setenv("MLMONITOR_GX_ROOT", str(tmp / "expectations"))
        mp.setenv("AIRFLOW_CONN_MLMONITOR_WAREHOUSE", json.dumps({"conn_type": "sqlite", "host": str(db)}))
        engine = sa.create_engine(f"sqlite:///{db}")
        hostile = [
            {**r, "city": CITY if i % 3 == 0 else r["city"], "version": VERSION if i % 2 else "1.0.0",
             "id": ID if i < 4 else f"id-{i}"}
            for i, r in enumerate(matrix.serving_rows())
        ]  # fmt: skip
        matrix.load(engine, serving=hostile, types={"id": sa.Text()})
        summaries = {}
        for name in ("open", "secret"):
            model = matrix.derive(engine, _project(tmp), get_model(name))
            summaries[name] = run_window(model, engine, matrix.DAY, None)
        with engine.begin() as conn:  # as the monitor DAG's persist task would record it
            conn.execute(sa.text("UPDATE mlmonitor_runs SET airflow_run_id = :r"), {"r": RUN_ID})
        engine.dispose()
        yield {"tmp": tmp, "summaries": summaries}


def _project(tmp: Path) -> Any:
    from mlmonitor.project import GxProject

    return GxProject(tmp / "expectations")


@pytest.fixture(scope="module")
def client(site: dict[str, Any]) -> Iterator[Any]:
    """The real Airflow API server app with the auth manager that denies the model `secret`."""
    from airflow.api_fastapi import app as airflow_app
    from fastapi.testclient import TestClient

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AIRFLOW__CORE__AUTH_MANAGER", "tests.security.deny_auth.DenySecretModel")
        mp.setenv("AIRFLOW__API_AUTH__JWT_SECRET", secrets.token_urlsafe(64))
        tmp = site["tmp"]
        mp.setenv("MLMONITOR_MODELS_DIR", str(tmp / "models"))
        mp.setenv("MLMONITOR_GX_ROOT", str(tmp / "expectations"))
        mp.setenv(
            "AIRFLOW_CONN_MLMONITOR_WAREHOUSE", json.dumps({"conn_type": "sqlite", "host": str(tmp / "warehouse.db")})
        )
        airflow_app.purge_cached_app()
        try:
            with TestClient(airflow_app.create_app(), base_url="http://127.0.0.1:8080") as c:
                from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

                token = airflow_app.get_auth_manager().generate_jwt(
                    SimpleAuthManagerUser(username="admin", role="admin")
                )
                c.headers["Authorization"] = f"Bearer {token}"
                yield c
        finally:
            airflow_app.purge_cached_app()


def _key() -> str:
    return f"{matrix.DAY.start:%Y%m%dT%H%M}"


def _docs_page(site: dict[str, Any], model: str) -> str:
    return str(site["summaries"][model].docs_path)


def test_every_dashboard_path_of_a_denied_model_is_refused(client: Any, site: dict[str, Any]) -> None:
    index = client.get("/mlmonitor/")
    assert index.status_code == 200 and "/mlmonitor/models/open" in index.text
    assert "secret" not in index.text
    for path in (
        "/mlmonitor/models/secret",
        f"/mlmonitor/models/secret/windows/{_key()}",
        f"/mlmonitor/models/secret/windows/{_key()}/docs",
        f"/mlmonitor/runs/mlmonitor_secret/{quote(RUN_ID, safe='')}",
    ):
        response = client.get(path, headers={"Accept": "application/json"})
        assert response.status_code == 403, (path, response.text)
    assert client.get(f"/mlmonitor/models/open/windows/{_key()}").status_code == 200
    metrics = client.get("/mlmonitor/metrics").text
    assert 'model="open"' in metrics and 'model="secret"' not in metrics


def test_every_data_docs_path_of_a_denied_model_is_refused(client: Any, site: dict[str, Any]) -> None:
    secret_page = _docs_page(site, "secret")
    for path in (
        secret_page,
        secret_page.replace("validations/secret/", "validations/secret_schema/", 1),
        "expectations/secret.html",
        "expectations/secret_schema.html",
        "mlmonitor/secret.html",
    ):
        response = client.get(f"/mlmonitor/docs/{quote(path)}", follow_redirects=False)
        assert response.status_code in (403, 404), (path, response.status_code)
    # the user's own model: redirected to the site under a grant, served sandboxed
    own = client.get(f"/mlmonitor/docs/{quote(_docs_page(site, 'open'))}", follow_redirects=False)
    assert own.status_code == 303 and "/mlmonitor/d/" in own.headers["location"]
    grant_root = own.headers["location"].split("/site/")[0]
    page = client.get(own.headers["location"])
    assert page.status_code == 200 and "open" in page.text
    # a grant names the models it gives: the denied model's files stay out of reach under it
    for path in (secret_page, "mlmonitor/secret.html", "expectations/secret.html"):
        assert client.get(f"{grant_root}/site/{quote(path)}").status_code == 404, path
    assert client.get(f"{grant_root}/site/mlmonitor/open.html").status_code == 200
    assert client.get(f"{grant_root}/site/static/styles/data_docs_default_styles.css").status_code == 200
    assert client.get(f"{grant_root}/site/../../../warehouse.db").status_code == 404
    assert client.get(f"{grant_root}/site/nothing/here.json").status_code == 404  # unknown layouts are refused


def test_the_data_docs_index_lists_only_the_users_models(client: Any, site: dict[str, Any]) -> None:
    raw = (site["tmp"] / "expectations" / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html").read_text()
    assert "validations/secret/" in raw  # GE's own index lists both models
    index = client.get("/mlmonitor/docs/index.html")  # follows the redirect
    assert index.status_code == 200 and "Validation Results" in index.text
    assert "validations/open/" in unquote(index.text) or "validations%2Fopen" in index.text
    assert "secret" not in index.text


def test_static_files_need_a_valid_unexpired_grant(client: Any, site: dict[str, Any]) -> None:
    jquery = "vendor/jquery/3.7.1/dist/jquery.min.js"
    own = client.get(f"/mlmonitor/docs/{quote(_docs_page(site, 'open'))}", follow_redirects=False)
    root = own.headers["location"].split("/site/")[0]
    ok = client.get(f"{root}/{jquery}", headers={"Authorization": ""})  # no session: the grant is the key
    assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == "*"
    grant = root.rsplit("/", 2)[-2]
    forged = grant.split(".")[0] + "." + "A" * 24
    expired = make_grant(b"any key", ["open"], time.time() - 10 * 3600)
    widened = make_grant(b"not the server's key", ["open", "secret"], time.time())
    for bad in (forged, expired, widened, "garbage"):
        response = client.get(f"/mlmonitor/d/{bad}/auto/{jquery}", headers={"Authorization": ""})
        assert response.status_code == 403, bad
        page = quote(_docs_page(site, "secret"))
        response = client.get(f"/mlmonitor/d/{bad}/auto/site/{page}", headers={"Authorization": ""})
        assert response.status_code == 403, bad


def test_data_docs_get_an_opaque_origin_and_dashboard_pages_run_no_inline_script(
    client: Any, site: dict[str, Any]
) -> None:
    page = client.get(f"/mlmonitor/docs/{quote(_docs_page(site, 'open'))}")
    csp = page.headers["content-security-policy"]
    assert csp.startswith("sandbox allow-scripts") and "allow-same-origin" not in csp
    assert page.headers["referrer-policy"] == "no-referrer"
    assert "footer,#ge-cta-footer{display:none!important}" in page.text  # GE's marketing footers hidden
    # GE writes serving values into its pages unescaped: the sandbox (an opaque origin) is what keeps a
    # script there from acting with the viewer's Airflow session (the browser test runs one)
    assert ID in page.text
    dashboard = client.get("/mlmonitor/models/open")
    csp = dashboard.headers["content-security-policy"]
    assert "script-src 'self';" in csp and "unsafe-inline" not in csp and "frame-ancestors 'self'" in csp


def test_hostile_values_are_escaped_on_every_dashboard_page(client: Any, site: dict[str, Any]) -> None:
    summary = site["summaries"]["open"]
    assert summary.status == "alert"  # the unseen city, the duplicate ids and the mixed versions were found
    pages = {
        path: client.get(path).text
        for path in (
            "/mlmonitor/",
            "/mlmonitor/models/open",
            f"/mlmonitor/models/open/windows/{_key()}",
            f"/mlmonitor/models/open/windows/{_key()}/docs",
        )
    }
    for path, html in pages.items():
        body = re.sub(r"<script src=\"[^\"]+\"></script>", "", html)
        leaked = [raw for raw in RAW if raw in body]
        assert not leaked, f"{path} shows raw markup {leaked}"
    window = pages[f"/mlmonitor/models/open/windows/{_key()}"]
    assert "&lt;img src=x onerror=" in window  # the value is shown, escaped: the reader sees what came in
    assert "1.0.0&lt;script&gt;alert(1)&lt;/script&gt;" in window
    assert "&quot;&gt;&lt;svg onload=alert(2)&gt;" in window


def test_prometheus_shows_hostile_versions_as_plain_text(client: Any) -> None:
    response = client.get("/mlmonitor/metrics")
    assert response.headers["content-type"].startswith("text/plain")  # no HTML context: nothing runs
    assert 'metric="share:1.0.0<script>alert(1)</script>"' in response.text
