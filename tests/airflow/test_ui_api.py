"""The plugin's routes inside the real Airflow API server app (FastAPI TestClient): auth, traversal, content."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from mlmonitor.metrics import Metric, RunSummary
from mlmonitor.storage.results import write_results

RUN_ID = "scheduled__2024-03-02T00:00:00+00:00"
DOCS_PAGE = "validations/carloan/20240302/result.html"


@pytest.fixture
def results(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, gx_root: Path) -> sa.Engine:
    """Two monitored windows in a SQLite warehouse and their Data Docs pages."""
    db = tmp_path / "warehouse.db"
    monkeypatch.setenv("AIRFLOW_CONN_MLMONITOR_WAREHOUSE", f'{{"conn_type": "sqlite", "host": "{db}"}}')
    engine = sa.create_engine(f"sqlite:///{db}")
    for day, psi, status in ((1, 0.02, "ok"), (2, 0.4, "warning")):
        start = dt.datetime(2024, 3, day, tzinfo=dt.UTC)
        summary = RunSummary(
            model="carloan",
            window_start=start.isoformat(),
            window_end=(start + dt.timedelta(days=1)).isoformat(),
            rows=1200,
            model_versions={"1.0.0": 1200},
            status=status,
            failed_expectations=0,
            drifted_features=int(status != "ok"),
            docs_path=DOCS_PAGE if day == 2 else None,
            airflow_run_id=RUN_ID if day == 2 else None,
            message="1200 rows",
        )
        metrics = [
            Metric(check="drift", column="income", metric="psi", value=psi, status=status, threshold=0.1, p_value=0.001)
        ]  # type: ignore[arg-type]
        write_results(engine, summary, metrics, start)
    site = gx_root / "gx" / "uncommitted" / "data_docs" / "local_site"
    (site / Path(DOCS_PAGE).parent).mkdir(parents=True)
    (site / "index.html").write_text("<html>Data Docs index</html>")
    (site / DOCS_PAGE).write_text("<html>validation result of carloan</html>")
    (gx_root / "secret.txt").write_text("do not serve")
    return engine


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize(
    "path",
    [
        "/mlmonitor/",
        "/mlmonitor/models/carloan",
        "/mlmonitor/docs/index.html",
        f"/mlmonitor/runs/mlmonitor_carloan/{RUN_ID}",
        "/mlmonitor/metrics",
    ],
)
def test_anonymous_requests_are_refused(client: Any, results: sa.Engine, path: str) -> None:
    response = client.get(path, headers={"Accept": "application/json"})
    assert response.status_code == 401, response.text
    assert "validation result" not in response.text and "income" not in response.text


def test_anonymous_browser_goes_to_the_login_page_and_back(client: Any, results: sa.Engine) -> None:
    response = client.get("/mlmonitor/models/carloan", headers={"Accept": "text/html"}, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/auth/login")
    assert "next=http" in response.headers["location"] and "mlmonitor" in response.headers["location"]


def test_a_forged_token_is_refused(client: Any, results: sa.Engine) -> None:
    assert client.get("/mlmonitor/", headers=_auth("not-a-jwt")).status_code == 403


def test_dashboard_and_model_page_with_a_token(client: Any, results: sa.Engine, token: str) -> None:
    index = client.get("/mlmonitor/", headers=_auth(token))
    assert index.status_code == 200 and index.headers["content-type"].startswith("text/html")
    assert 'href="/mlmonitor/models/carloan"' in index.text and ">warning<" in index.text
    page = client.get("/mlmonitor/models/carloan", headers=_auth(token))
    assert page.status_code == 200
    assert 'data-chart="drift-income-psi"' in page.text
    assert f'href="/mlmonitor/docs/{DOCS_PAGE}"' in page.text
    assert "/dags/mlmonitor_carloan/runs/scheduled__2024-03-02T00%3A00%3A00%2B00%3A00" in page.text
    assert client.get("/mlmonitor/models/nosuchmodel", headers=_auth(token)).status_code == 404


def test_the_ui_cookie_authenticates_too(client: Any, results: sa.Engine, token: str) -> None:
    client.cookies.set("_token", token)
    try:
        assert client.get("/mlmonitor/docs/index.html").status_code == 200
    finally:
        client.cookies.clear()


def test_data_docs_are_served_and_traversal_is_404(client: Any, results: sa.Engine, token: str) -> None:
    page = client.get(f"/mlmonitor/docs/{DOCS_PAGE}", headers=_auth(token))
    assert page.status_code == 200 and "validation result of carloan" in page.text
    assert client.get("/mlmonitor/docs/", headers=_auth(token)).text == "<html>Data Docs index</html>"
    for path in (
        "/mlmonitor/docs/%2e%2e/%2e%2e/%2e%2e/secret.txt",
        "/mlmonitor/docs/..%2F..%2F..%2Fsecret.txt",
        "/mlmonitor/docs/%2Fetc%2Fpasswd",
        "/mlmonitor/docs/missing.html",
    ):
        response = client.get(path, headers=_auth(token))
        assert response.status_code == 404, path
        assert "do not serve" not in response.text and "root:" not in response.text


def test_run_view_redirects_to_the_runs_data_docs(client: Any, results: sa.Engine, token: str) -> None:
    response = client.get(f"/mlmonitor/runs/mlmonitor_carloan/{RUN_ID}", headers=_auth(token), follow_redirects=False)
    assert response.status_code == 307
    assert response.headers["location"] == f"/mlmonitor/docs/{DOCS_PAGE}"
    other = client.get("/mlmonitor/runs/some_other_dag/run1", headers=_auth(token))
    assert other.status_code == 404 and "not an mlmonitor monitor DAG" in other.text


def test_metrics_need_auth_unless_made_public(
    client: Any, results: sa.Engine, token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = client.get("/mlmonitor/metrics", headers=_auth(token)).text
    assert 'mlmonitor_metric_value{model="carloan",check="drift",column="income",metric="psi"} 0.4' in text
    assert 'mlmonitor_window_status{model="carloan",status="warning"} 1.0' in text
    monkeypatch.setenv("AIRFLOW__MLMONITOR__METRICS_PUBLIC", "True")
    public = client.get("/mlmonitor/metrics")
    assert public.status_code == 200 and public.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert client.get("/mlmonitor/").status_code == 401  # only /metrics becomes public


def test_plugin_registers_nav_entry_run_view_and_extra_link(airflow_db: Path) -> None:
    from airflow import plugins_manager

    assert not plugins_manager.get_import_errors()
    plugins, _ = plugins_manager._get_plugins()
    plugin = next(p for p in plugins if p.name == "mlmonitor")
    by_dest = {v["destination"]: v for v in plugin.external_views}
    assert by_dest["nav"]["name"] == "ML Monitoring" and by_dest["nav"]["href"] == "/mlmonitor/"
    assert by_dest["dag_run"]["href"] == "/mlmonitor/runs/{DAG_ID}/{RUN_ID}"
    assert [link.name for link in plugin.operator_extra_links] == ["Data Docs"]


def test_unreachable_results_are_explained_not_a_500(
    client: Any, results: sa.Engine, token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_MLMONITOR_WAREHOUSE")
    index = client.get("/mlmonitor/", headers=_auth(token))
    assert index.status_code == 200 and "results unavailable" in index.text and "mlmonitor_warehouse" in index.text
    page = client.get("/mlmonitor/models/carloan", headers=_auth(token))
    assert page.status_code == 503 and "Results of carloan are unavailable" in page.text


@pytest.fixture
def real_site(ge_data_docs: tuple[Path, str], gx_root: Path) -> str:
    """The Data Docs site real GE wrote, where the plugin serves it from; the validation page's path."""
    import shutil

    site, page = ge_data_docs
    shutil.copytree(site, gx_root / "gx" / "uncommitted" / "data_docs" / "local_site")
    return page


VENDOR = Path(__file__).resolve().parents[2] / "include" / "mlmonitor_airflow" / "static" / "vendor"
CONTENT_TYPES = {".css": "text/css", ".js": "text/javascript", ".woff2": "font/woff2", ".ttf": "font/ttf"}


@pytest.mark.integration
def test_served_data_docs_load_only_local_vendored_files(client: Any, real_site: str, token: str) -> None:
    import re
    from urllib.parse import quote

    from mlmonitor.ui.docs_site import VENDORED_ASSETS

    fetched: set[str] = set()
    for page in (quote(real_site), "index.html", "expectations/tiny.html"):
        response = client.get(f"/mlmonitor/docs/{page}", headers=_auth(token))
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
        assert "default-src 'self'" in response.headers["content-security-policy"]
        html = response.text
        assert "tiny" in html
        assert not re.findall(r"""\ssrc\s*=\s*["']?(?:https?:)?//""", html, re.I)
        assert not re.findall(r"""<link\b[^>]*\shref\s*=\s*["']?(?:https?:)?//""", html, re.I)
        assert not re.findall(r"""url\(\s*["']?(?:https?:)?//""", html, re.I)
        fetched |= set(re.findall(r"""(?:src|href)="(/mlmonitor/static/[^"]+)""", html))
    assert fetched == {f"/mlmonitor/static/vendor/{a.path}" for a in VENDORED_ASSETS}
    # and the fonts the Font Awesome stylesheet loads, relative to it
    css_url = next(u for u in fetched if u.endswith("all.min.css"))
    fonts = {css_url.rsplit("/", 2)[0] + ref.removeprefix("..") for ref in re.findall(
        r"url\(([^)]+\.woff2)\)", client.get(css_url, headers=_auth(token)).text)}  # fmt: skip
    assert len(fonts) >= 3
    for url in sorted(fetched | fonts):
        response = client.get(url, headers=_auth(token))
        assert response.status_code == 200, url
        expected = CONTENT_TYPES[Path(url).suffix]
        assert response.headers["content-type"].startswith(expected), (url, response.headers["content-type"])
        assert response.content == (VENDOR / url.removeprefix("/mlmonitor/static/vendor/")).read_bytes(), url
    # GE's own stylesheet in the site loses its S3 background image too
    styles = client.get("/mlmonitor/docs/static/styles/data_docs_default_styles.css", headers=_auth(token))
    assert styles.status_code == 200 and styles.headers["content-type"].startswith("text/css")
    assert "amazonaws" not in styles.text


def test_static_files_need_auth_and_stay_in_their_folder(client: Any, token: str) -> None:
    jquery = "/mlmonitor/static/vendor/jquery/3.7.1/dist/jquery.min.js"
    assert client.get(jquery, headers={"Accept": "application/json"}).status_code == 401
    assert client.get(jquery, headers=_auth(token)).status_code == 200
    for path in ("/mlmonitor/static/..%2F..%2Fui.py", "/mlmonitor/static/%2Fetc%2Fpasswd", "/mlmonitor/static/vendor"):
        assert client.get(path, headers=_auth(token)).status_code == 404, path
