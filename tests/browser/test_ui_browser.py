"""End to end in headless Chromium: a real `airflow api-server` with the demo's results, a login, the
dashboard with the demo's drift in a chart, and a link followed into Data Docs, styled by the vendored
Bootstrap and Font Awesome. Every request the browser makes is recorded: none may leave 127.0.0.1.

Debian's chromium (/usr/bin/chromium) is driven by Playwright; no browser is downloaded. `.ci/run`
installs chromium; under CI (or MLMONITOR_REQUIRE_BROWSER=1) a missing browser fails the test,
elsewhere it skips with the reason. Screenshots go to var/test-artifacts/.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from mlmonitor.demo import INCIDENTS, START, write_demo

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("MLMONITOR_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = ROOT / "var" / "test-artifacts"
# two clean days, a day with region drift, the quality incident (drift in four columns, failed expectations)
DAYS = (0, 1, INCIDENTS.region_shift_from + 1, INCIDENTS.quality_incident)


def _require_browser() -> None:
    required = bool(os.environ.get("CI") or os.environ.get("MLMONITOR_REQUIRE_BROWSER"))
    problem = None
    if not CHROMIUM.exists():
        problem = f"{CHROMIUM} is missing (install Debian's chromium: .ci/ensure-chromium)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            problem = "the playwright package is missing (make install)"
    if problem and required:
        pytest.fail(f"the browser test is required here (CI / MLMONITOR_REQUIRE_BROWSER) but {problem}")
    if problem:
        pytest.skip(problem)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _day(day: int) -> dt.datetime:
    return (START + dt.timedelta(days=day)).replace(tzinfo=dt.UTC)


@pytest.fixture
def demo_results(airflow_db: Path, gx_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The demo model monitored through Airflow (dag.test) for a few windows, drift included."""
    _require_browser()  # before the expensive part
    from airflow.dag_processing.dagbag import DagBag

    db = tmp_path / "warehouse.db"
    conn = json.dumps({"conn_type": "sqlite", "host": str(db)})
    monkeypatch.setenv("AIRFLOW_CONN_MLMONITOR_WAREHOUSE", conn)
    engine = sa.create_engine(f"sqlite:///{db}")
    write_demo(engine, days=list(DAYS))
    engine.dispose()
    bag = DagBag(str(ROOT / "dags"))
    assert not bag.import_errors, bag.import_errors
    assert bag.get_dag("mlmonitor_carloan_baseline").test(logical_date=_day(0)).state == "success"
    monitor = bag.get_dag("mlmonitor_carloan")
    for day in DAYS:
        monitor.test(logical_date=_day(day + 1))  # alerting windows end "failed" by design (the gate task)
    return {"AIRFLOW_CONN_MLMONITOR_WAREHOUSE": conn, "MLMONITOR_GX_ROOT": str(gx_root)}


@pytest.fixture
def api_server(demo_results: dict[str, str], airflow_db: Path, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """`airflow api-server` on a free port of 127.0.0.1, sharing the test session's metadata DB."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    passwords = tmp_path / "passwords.json"
    env = {
        **os.environ,
        **demo_results,
        "AIRFLOW__API__BASE_URL": base,
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(64),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
    }
    log = (tmp_path / "api-server.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "airflow", "api-server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_healthy(base, proc, tmp_path / "api-server.log")
        password = json.loads(passwords.read_text())["admin"]
        yield {"base": base, "user": "admin", "password": password}
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def _wait_healthy(base: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    """Poll the health endpoint until the server answers (start-up time depends on the machine)."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"airflow api-server exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{base}/api/v2/monitor/health", timeout=5) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(1)
    pytest.fail(f"airflow api-server did not answer on {base}:\n{log.read_text()[-3000:]}")


def test_login_dashboard_drift_chart_and_data_docs(api_server: dict[str, Any]) -> None:
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    base = api_server["base"]
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        context = browser.new_context(viewport={"width": 1440, "height": 1000})
        requested: list[str] = []
        responses: dict[str, int] = {}

        def only_local(route: Any) -> None:
            """Record every request of every page and frame; let none leave the test server."""
            requested.append(route.request.url)
            if urlsplit(route.request.url).hostname == "127.0.0.1":
                route.continue_()
            else:
                route.abort()

        context.route("**/*", only_local)
        context.on("response", lambda r: responses.__setitem__(r.url, r.status))
        page = context.new_page()
        try:
            # anonymous: the dashboard sends the browser to Airflow's login page, which sends it back
            page.goto(f"{base}/mlmonitor/")
            page.wait_for_url("**/auth/login**")
            page.locator('input[name="username"]').fill(api_server["user"])
            page.locator('input[name="password"]').fill(api_server["password"])
            page.screenshot(path=str(ARTIFACTS / "01-login.png"))
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(f"{base}/mlmonitor/**")
            expect(page.get_by_role("link", name="carloan")).to_be_visible()
            expect(page.locator("span.badge", has_text="alert").first).to_be_visible()
            page.screenshot(path=str(ARTIFACTS / "02-dashboard.png"), full_page=True)

            # the model page: the demo's drift shows as flagged points in the drift charts
            page.get_by_role("link", name="carloan").click()
            page.wait_for_url("**/mlmonitor/models/carloan")
            region = page.locator('svg[data-chart="drift-region-linf"]')
            expect(region).to_be_visible()
            expect(region.locator('circle[data-status="warning"]').first).to_be_attached()
            assert page.locator('svg[data-chart^="drift-"] circle[data-status="warning"]').count() >= 4
            expect(page.get_by_text("drift score (linf)").first).to_be_visible()
            page.screenshot(path=str(ARTIFACTS / "03-model.png"), full_page=True)
            region.screenshot(path=str(ARTIFACTS / "04-drift-chart-region.png"))

            # every window links its Data Docs page: follow the incident window's link
            incident = page.locator(f"#w-{_day(INCIDENTS.quality_incident):%Y%m%d%H%M}")
            expect(incident).to_contain_text("expect_column_values_to_not_be_null(credit_score)")
            incident.get_by_role("link", name="Data Docs").click()
            page.wait_for_url(f"{base}/mlmonitor/docs/**")
            expect(page.locator("body")).to_contain_text("carloan")
            _assert_styled_by_vendored_assets(page, base, responses)
            page.screenshot(path=str(ARTIFACTS / "05-data-docs.png"), full_page=True)

            # and its Airflow run, whose "Data Docs" tab (the dag_run external view) shows the same page
            page.go_back()
            href = incident.get_by_role("link", name="Airflow run").get_attribute("href")
            assert href and href.startswith("/dags/mlmonitor_carloan/runs/")
            page.goto(f"{base}{href}")
            page.get_by_role("link", name="Data Docs", exact=True).click()
            docs_tab = page.frame_locator("iframe[title='Data Docs']")
            expect(docs_tab.locator("body")).to_contain_text("credit_score")
            page.screenshot(path=str(ARTIFACTS / "06-run-data-docs-tab.png"))

            # the nav entry of the Airflow UI
            page.goto(f"{base}/")
            page.get_by_role("button", name="Browse").click()
            expect(page.get_by_text("ML Monitoring")).to_be_visible()
            page.screenshot(path=str(ARTIFACTS / "07-airflow-nav.png"))

            # the Data Docs index page is offline too, its tables built by the vendored bootstrap-table
            page.goto(f"{base}/mlmonitor/docs/index.html")
            expect(page.get_by_role("tab", name="Validation Results")).to_be_visible()
            expect(page.locator("div.bootstrap-table").first).to_be_visible()
            _assert_styled_by_vendored_assets(page, base, responses)
            page.screenshot(path=str(ARTIFACTS / "08-data-docs-index.png"), full_page=True)

            external = sorted({u for u in requested if urlsplit(u).hostname != "127.0.0.1" and not _inline(u)})
            assert not external, f"the browser asked for resources off 127.0.0.1: {external}"
            assert any("/mlmonitor/static/vendor/" in u for u in requested)
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "failure.png"), full_page=True)
            raise
        finally:
            browser.close()


def _inline(url: str) -> bool:
    return url.startswith(("data:", "blob:", "about:"))


def _assert_styled_by_vendored_assets(page: Any, base: str, responses: dict[str, int]) -> None:
    """Bootstrap's rules apply (its navbar is a flex box, its table borders collapse) and Font Awesome's
    icon font came from the vendor folder."""
    page.wait_for_load_state("load")
    style = page.evaluate(
        """() => ({
            navbar: getComputedStyle(document.querySelector('nav.navbar')).display,
            table: getComputedStyle(document.querySelector('table')).borderCollapse,
            body: getComputedStyle(document.body).fontFamily,
            jquery: typeof window.jQuery,
            vega: typeof window.vegaEmbed,
        })"""
    )
    assert style["navbar"] == "flex", style
    assert style["table"] == "collapse", style
    assert "Segoe UI" in style["body"], style  # Bootstrap 4's system font stack
    assert style["jquery"] == "function" and style["vega"] == "function", style
    fonts = page.evaluate(
        "() => document.fonts.ready.then(fs => [...fs].filter(f => f.status == 'loaded').map(f => f.family))"
    )
    assert any("Font Awesome" in f for f in fonts), fonts
    vendored = {u: s for u, s in responses.items() if u.startswith(f"{base}/mlmonitor/static/vendor/")}
    assert vendored and set(vendored.values()) == {200}, vendored
    assert any(u.endswith(".woff2") for u in vendored), vendored
