"""The plugin's routes inside the real Airflow API server app (FastAPI TestClient): auth, traversal, content."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from mlmonitor.metrics import Metric, RunSummary
from mlmonitor.storage.results import write_results

RUN_ID = "scheduled__2024-03-02T00:00:00+00:00"
T0 = dt.datetime(2024, 4, 1)
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
        "/mlmonitor/models/carloan/windows/20240302T0000",
        "/mlmonitor/models/carloan/windows/20240302T0000/docs",
        "/mlmonitor/docs/index.html",
        "/mlmonitor/data-docs",
        f"/mlmonitor/runs/mlmonitor_carloan/{RUN_ID}",
        "/mlmonitor/metrics",
        "/mlmonitor/d/not-a-grant/auto/site/index.html",
    ],
)
def test_anonymous_requests_are_refused(client: Any, results: sa.Engine, path: str) -> None:
    response = client.get(path, headers={"Accept": "application/json"})
    assert response.status_code in (401, 403), response.text
    assert "validation result" not in response.text and "income" not in response.text


def test_anonymous_browser_goes_to_the_login_page_and_back(client: Any, results: sa.Engine) -> None:
    response = client.get("/mlmonitor/models/carloan", headers={"Accept": "text/html"}, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/auth/login")
    assert "next=http" in response.headers["location"] and "mlmonitor" in response.headers["location"]


def test_the_way_back_after_login_comes_from_base_url_not_the_host_header(client: Any, results: sa.Engine) -> None:
    """A forged Host header must not become the address the login page sends the browser back to."""
    from urllib.parse import parse_qs, urlsplit

    response = client.get(
        "/mlmonitor/models/carloan?windows=30",
        headers={"Accept": "text/html", "Host": "evil.example"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    next_url = parse_qs(urlsplit(response.headers["location"]).query)["next"][0]
    assert next_url == "http://127.0.0.1:8080/mlmonitor/models/carloan?windows=30"  # [api] base_url of airflow.cfg
    assert "evil" not in response.headers["location"]


def test_a_forged_token_is_refused(client: Any, results: sa.Engine) -> None:
    assert client.get("/mlmonitor/", headers=_auth("not-a-jwt")).status_code == 403


def test_a_browser_without_the_right_gets_a_page_saying_why(client: Any, results: sa.Engine, token: str) -> None:
    response = client.get("/mlmonitor/models/nosuchmodel", headers={**_auth(token), "Accept": "text/html"})
    assert response.status_code == 404 and "No model named" in response.text and "<html" in response.text


def test_dashboard_and_model_page_with_a_token(client: Any, results: sa.Engine, token: str) -> None:
    index = client.get("/mlmonitor/", headers=_auth(token))
    assert index.status_code == 200 and index.headers["content-type"].startswith("text/html")
    assert 'href="/mlmonitor/models/carloan"' in index.text and ">warning<" in index.text
    assert "unhealthy since 2024-03-02 00:00" in index.text and "income" in index.text
    # the page lives in Airflow's shell: opened on its own, its script moves it to /plugin/mlmonitor/...
    assert 'data-shell="/plugin/mlmonitor/mlmonitor/"' in index.text
    page = client.get("/mlmonitor/models/carloan", headers=_auth(token))
    assert page.status_code == 200
    assert 'data-chart="drift-income"' in page.text
    assert 'href="/mlmonitor/models/carloan/windows/20240302T0000/docs"' in page.text
    assert "/dags/mlmonitor_carloan/runs/scheduled__2024-03-02T00%3A00%3A00%2B00%3A00" in page.text
    assert client.get("/mlmonitor/models/nosuchmodel", headers=_auth(token)).status_code == 404
    assert client.get("/mlmonitor/models/carloan?windows=0", headers=_auth(token)).status_code == 422
    window = client.get("/mlmonitor/models/carloan/windows/20240302T0000", headers=_auth(token))
    assert window.status_code == 200 and "psi 0.4" in window.text.replace("population stability index", "psi")
    assert client.get("/mlmonitor/models/carloan/windows/20240309T0000", headers=_auth(token)).status_code == 404
    assert client.get("/mlmonitor/models/carloan/windows/yesterday", headers=_auth(token)).status_code == 404


def test_the_ui_cookie_authenticates_too(client: Any, results: sa.Engine, token: str) -> None:
    client.cookies.set("_token", token)
    try:
        assert client.get("/mlmonitor/docs/index.html").status_code == 200
    finally:
        client.cookies.clear()


def test_data_docs_are_served_under_a_grant_and_traversal_is_404(client: Any, results: sa.Engine, token: str) -> None:
    page = client.get(f"/mlmonitor/docs/{DOCS_PAGE}", headers=_auth(token), follow_redirects=False)
    assert page.status_code == 303
    granted = page.headers["location"]
    assert re.fullmatch(rf"/mlmonitor/d/[A-Za-z0-9_.-]+/auto/site/{DOCS_PAGE}", granted), granted
    served = client.get(granted)  # no session needed: the grant is the key
    assert served.status_code == 200 and "validation result of carloan" in served.text
    root = granted.split("/site/")[0]
    for path in (
        "/mlmonitor/docs/%2e%2e/%2e%2e/%2e%2e/secret.txt",
        "/mlmonitor/docs/..%2F..%2F..%2Fsecret.txt",
        "/mlmonitor/docs/%2Fetc%2Fpasswd",
        "/mlmonitor/docs/missing.html",
        f"{root}/site/%2e%2e/%2e%2e/%2e%2e/secret.txt",
        f"{root}/site/..%2F..%2F..%2Fsecret.txt",
        f"{root}/vendor/..%2F..%2Fui.py",
        f"{root}/nope/site/index.html",
    ):
        response = client.get(path, headers=_auth(token))
        assert response.status_code == 404, path
        assert "do not serve" not in response.text and "root:" not in response.text


def test_run_tab_shows_the_windows_data_docs_failures_first(client: Any, results: sa.Engine, token: str) -> None:
    response = client.get(f"/mlmonitor/runs/mlmonitor_carloan/{RUN_ID}", headers=_auth(token))
    assert response.status_code == 200
    assert "← back to the window on the dashboard" in response.text
    assert 'sandbox="allow-scripts allow-popups allow-popups-to-escape-sandbox"' in response.text
    src = re.search(r'data-src="([^"]+)"', response.text)
    assert src and src.group(1).endswith(f"/auto/site/{DOCS_PAGE}")
    assert "validation result of carloan" in client.get(src.group(1)).text


def test_run_tab_on_other_dags_says_so_in_a_few_words(client: Any, results: sa.Engine, token: str) -> None:
    other = client.get("/mlmonitor/runs/some_other_dag/run1", headers=_auth(token))
    assert other.status_code == 200 and "some_other_dag is not monitored by mlmonitor" in other.text
    assert "<header" not in other.text and "Airflow</a>" not in other.text  # no second header, no Airflow inside
    labels = client.get("/mlmonitor/runs/mlmonitor_carloan_labels/run1", headers=_auth(token))
    assert "re-scores the quality" in labels.text and 'href="/mlmonitor/models/carloan#quality"' in labels.text
    pending = client.get("/mlmonitor/runs/mlmonitor_carloan/manual__not_yet", headers=_auth(token))
    assert pending.status_code == 200 and "has not written a window yet" in pending.text


def test_an_old_run_is_found_by_its_run_id(client: Any, results: sa.Engine, token: str) -> None:
    """Issue 16, finding 5: `/runs` scanned the newest 1,000 runs only, so an older run answered 404."""
    with results.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO mlmonitor_runs (model, window_start, window_end, status, rows, model_versions, "
                "failed_expectations, drifted_features, docs_path, airflow_run_id, message, computed_at) VALUES "
                "('carloan', :s, :e, 'ok', 1, '{}', 0, 0, NULL, :r, '', :s)"
            ),
            [
                {"s": T0 + dt.timedelta(hours=h), "e": T0 + dt.timedelta(hours=h + 1), "r": f"run{h}"}
                for h in range(1200)
            ],
        )  # fmt: skip
    response = client.get(f"/mlmonitor/runs/mlmonitor_carloan/{RUN_ID}", headers=_auth(token))
    assert (
        response.status_code == 200 and "Failed expectations" in response.text
    ) or "Every expectation" in response.text


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
    nav = by_dest["nav"]
    assert (nav["name"], nav["href"], nav["url_route"]) == ("ML Monitoring", "mlmonitor/", "mlmonitor")
    assert by_dest["dag_run"]["href"] == "mlmonitor/runs/{DAG_ID}/{RUN_ID}"
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
def real_site(ge_data_docs: tuple[Path, str], gx_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The Data Docs site real GE wrote (model `tiny`, configured here), where the plugin serves it from;
    the validation page's path."""
    import shutil

    site, page = ge_data_docs
    shutil.copytree(site, gx_root / "gx" / "uncommitted" / "data_docs" / "local_site")
    models = tmp_path / "models"
    models.mkdir()
    (models / "tiny.yaml").write_text(
        "name: tiny\ntraining: {table: training}\nserving: {table: serving, timestamp_column: ts, id_column: id}\n"
        "prediction: {column: x, task: regression}\nfeatures: {numeric: [], categorical: [c]}\n"
        "start_date: 2024-01-01\n"
    )
    monkeypatch.setenv("MLMONITOR_MODELS_DIR", str(models))
    return page


VENDOR = Path(__file__).resolve().parents[2] / "include" / "mlmonitor_airflow" / "static" / "vendor"
CONTENT_TYPES = {".css": "text/css", ".js": "text/javascript", ".woff2": "font/woff2", ".ttf": "font/ttf"}


@pytest.mark.integration
def test_served_data_docs_load_only_local_vendored_files(client: Any, real_site: str, token: str) -> None:
    from urllib.parse import quote

    from mlmonitor.ui.docs_site import VENDORED_ASSETS

    fetched: set[str] = set()
    root = ""
    for page in (quote(real_site), "index.html", "expectations/tiny.html"):
        response = client.get(f"/mlmonitor/docs/{page}", headers=_auth(token))
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
        assert "default-src 'self'" in response.headers["content-security-policy"]
        root = str(response.url).split("/site/")[0].replace("http://127.0.0.1:8080", "")
        html = response.text
        assert "tiny" in html
        assert not re.findall(r"""\ssrc\s*=\s*["']?(?:https?:)?//""", html, re.I)
        assert not re.findall(r"""<link\b[^>]*\shref\s*=\s*["']?(?:https?:)?//""", html, re.I)
        assert not re.findall(r"""url\(\s*["']?(?:https?:)?//""", html, re.I)
        fetched |= set(re.findall(r"""(?:src|href)="(/mlmonitor/d/[^"]+/vendor/[^"]+)""", html))
    assert {u.split("/vendor/", 1)[1] for u in fetched} == {a.path for a in VENDORED_ASSETS}
    # and the fonts the Font Awesome stylesheet loads, relative to it
    css_url = next(u for u in fetched if u.endswith("all.min.css"))
    fonts = {css_url.rsplit("/", 2)[0] + ref.removeprefix("..") for ref in re.findall(
        r"url\(([^)]+\.woff2)\)", client.get(css_url).text)}  # fmt: skip
    assert len(fonts) >= 3
    for url in sorted(fetched | fonts):
        response = client.get(url)  # the grant in the path, no session
        assert response.status_code == 200, url
        expected = CONTENT_TYPES[Path(url).suffix]
        assert response.headers["content-type"].startswith(expected), (url, response.headers["content-type"])
        assert response.content == (VENDOR / url.split("/vendor/", 1)[1]).read_bytes(), url
    # GE's own stylesheet in the site loses its S3 background image too
    styles = client.get(f"{root}/site/static/styles/data_docs_default_styles.css")
    assert styles.status_code == 200 and styles.headers["content-type"].startswith("text/css")
    assert "amazonaws" not in styles.text
    # in Airflow's dark theme GE's dark stylesheet applies whatever the system says; in the light one not at all
    dark = client.get(f"{root.replace('/auto', '/dark')}/site/{quote(real_site)}").text
    dark_css = re.search(r'href="([^"]+bootstrap-prefers-dark.css)"', dark)
    assert dark_css and "prefers-color-scheme" not in client.get(dark_css.group(1)).text
    assert "bootstrap-prefers-dark" not in client.get(f"{root.replace('/auto', '/light')}/site/{quote(real_site)}").text


def test_static_files_need_auth_and_stay_in_their_folder(client: Any, token: str) -> None:
    jquery = "/mlmonitor/static/vendor/jquery/3.7.1/dist/jquery.min.js"
    assert client.get(jquery, headers={"Accept": "application/json"}).status_code == 401
    assert client.get(jquery, headers=_auth(token)).status_code == 200
    for path in ("/mlmonitor/static/..%2F..%2Fui.py", "/mlmonitor/static/%2Fetc%2Fpasswd", "/mlmonitor/static/vendor"):
        assert client.get(path, headers=_auth(token)).status_code == 404, path
