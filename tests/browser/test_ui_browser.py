"""End to end in headless Chromium: a real `airflow api-server` on the demo's results (the 60 demo days
replayed as `make demo` does, labels DAG included), a login, and every page of the on-call view inside
Airflow's shell: the reasons of each baked-in incident with their first window on the dashboard and the
model page, the distribution charts of the region and income drift, the quality section showing the
concept drift, a window and its Data Docs (failures first, in an opaque origin), the run tabs of a
monitor and a non-monitor DAG, both themes, 800 px with no horizontal overflow, the demo's runs and
task logs as Airflow shows them, and the trigger form. Every request the browser makes is recorded:
none may leave 127.0.0.1.

Debian's chromium (/usr/bin/chromium) is driven by Playwright; no browser is downloaded. `.ci/run`
installs chromium; under CI (or MLMONITOR_REQUIRE_BROWSER=1) a missing browser fails the test,
elsewhere it skips with the reason. Screenshots of every page go to var/test-artifacts/.
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
from urllib.parse import quote, urlsplit

import pytest
import sqlalchemy as sa

from mlmonitor.demo import DAYS, INCIDENTS, START, write_demo

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("MLMONITOR_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = ROOT / "var" / "test-artifacts"
SHELL = "/plugin/mlmonitor"  # the nav entry's url_route: the dashboard inside Airflow's shell


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


def _day(day: int) -> str:
    return f"{START + dt.timedelta(days=day):%Y-%m-%d}"


@pytest.fixture(scope="module")
def demo_results(airflow_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The demo as `make demo` runs it: baseline, 60 windows as scheduled runs, the labels DAG every 5 days."""
    _require_browser()  # before the expensive part
    from airflow.dag_processing.dagbag import DagBag

    from mlmonitor_airflow.demo_runner import replay

    tmp = tmp_path_factory.mktemp("browser")
    db = tmp / "warehouse.db"
    env = {
        "AIRFLOW_CONN_MLMONITOR_WAREHOUSE": json.dumps({"conn_type": "sqlite", "host": str(db)}),
        "MLMONITOR_GX_ROOT": str(tmp / "expectations"),
    }
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        engine = sa.create_engine(f"sqlite:///{db}")
        write_demo(engine)
        engine.dispose()
        bag = DagBag(str(ROOT / "dags"))
        assert not bag.import_errors, bag.import_errors
        assert replay(bag, DAYS, say=lambda line: None) == 0
        yield {**env, "gx_root": str(tmp / "expectations")}


@pytest.fixture(scope="module")
def api_server(
    demo_results: dict[str, str], airflow_db: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """`airflow api-server` on a free port of 127.0.0.1, sharing the test session's metadata DB."""
    tmp = tmp_path_factory.mktemp("api-server")
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    passwords = tmp / "passwords.json"
    env = {
        **os.environ,
        **{k: v for k, v in demo_results.items() if k != "gx_root"},
        "AIRFLOW__API__BASE_URL": base,
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(64),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(_free_port()),
    }
    log_path = tmp / "api-server.log"
    log = log_path.open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "airflow", "api-server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_healthy(base, proc, log_path)
        password = json.loads(passwords.read_text())["admin"]
        yield {"base": base, "user": "admin", "password": password, "gx_root": demo_results["gx_root"]}
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


class Browser:
    """One logged-in Chromium context; every request it makes is recorded and none may leave 127.0.0.1."""

    def __init__(self, pw: Any, server: dict[str, Any]) -> None:
        self.base = server["base"]
        self.browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        self.context = self.browser.new_context(viewport={"width": 1400, "height": 1000})
        self.requested: list[str] = []
        self.cookies_sent: dict[str, bool] = {}
        self.responses: dict[str, int] = {}
        self.context.route("**/*", self._only_local)
        self.context.on("response", lambda r: self.responses.__setitem__(r.url, r.status))
        self.page = self.context.new_page()

    def _only_local(self, route: Any) -> None:
        """Record every request of every page and frame; let none leave the test server."""
        url = route.request.url
        self.requested.append(url)
        self.cookies_sent[url] = "_token=" in (route.request.all_headers().get("cookie") or "")
        if urlsplit(url).hostname == "127.0.0.1":
            route.continue_()
        else:
            route.abort()

    def login(self, user: str, password: str) -> None:
        page = self.page
        page.goto(f"{self.base}/mlmonitor/")
        page.wait_for_url("**/auth/login**")
        page.locator('input[name="username"]').fill(user)
        page.locator('input[name="password"]').fill(password)
        page.screenshot(path=str(ARTIFACTS / "01-login.png"))
        page.get_by_role("button", name="Sign in").click()

    def theme(self, mode: str) -> None:
        self.page.evaluate(f"localStorage.setItem('theme', '{mode}')")

    def open(self, path: str) -> Any:
        """Open a dashboard page inside Airflow's shell and return its frame."""
        self.page.set_viewport_size({"width": self.width, "height": 1000})
        self.page.goto(f"{self.base}{SHELL}{path}")
        frame = self.frame(path)
        frame.wait_for_load_state("load")
        return frame

    width = 1400

    def frame(self, path: str) -> Any:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            for frame in self.page.frames:
                if urlsplit(frame.url).path == urlsplit(path).path:
                    return frame
            self.page.wait_for_timeout(200)
        raise AssertionError(f"no frame {path}: {[f.url for f in self.page.frames]}")

    def shot(self, name: str, frame: Any | None = None) -> None:
        """A screenshot of the whole page: the viewport grows to the framed page's height first."""
        if frame is not None:
            height = int(frame.evaluate("document.documentElement.scrollHeight"))
            self.page.set_viewport_size({"width": self.width, "height": min(height + 120, 16000)})
            self.page.wait_for_timeout(300)
        self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
        self.page.set_viewport_size({"width": self.width, "height": 1000})

    def external(self) -> list[str]:
        return sorted({u for u in self.requested if urlsplit(u).hostname != "127.0.0.1" and not _inline(u)})


@pytest.fixture(scope="module")
def browser(api_server: dict[str, Any]) -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        b = Browser(pw, api_server)
        try:
            b.login(api_server["user"], api_server["password"])
            b.page.wait_for_url(f"{b.base}{SHELL}/mlmonitor/**")  # back from the login, inside the shell
            yield b
            assert not b.external(), f"the browser asked for resources off 127.0.0.1: {b.external()}"
        except Exception:
            b.page.screenshot(path=str(ARTIFACTS / "failure.png"), full_page=True)
            raise
        finally:
            b.browser.close()


def _inline(url: str) -> bool:
    return url.startswith(("data:", "blob:", "about:"))


def _no_overflow(frame: Any) -> None:
    widths = frame.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert widths[0] <= widths[1], f"{frame.url}: content {widths[0]} px wide in {widths[1]} px"


# the demo's incidents: (reason shown, its first window)
INCIDENT_REASONS = {
    "version switch": ("model versions", _day(INCIDENTS.version_switch)),
    "gradual income drift": ("income", _day(INCIDENTS.income_drift_from + 2)),  # big enough from day 32
    "region shift": ("region", _day(INCIDENTS.region_shift_from)),
    "null surge": ("credit_score: must not be NULL", _day(INCIDENTS.quality_incident)),
    "unseen employment type": (
        "employment_type: values must be among the training values",
        _day(INCIDENTS.quality_incident),
    ),
    "latency regression": ("latency_ms: p95 latency", _day(INCIDENTS.latency_regression_from)),
    "concept drift": ("prediction quality regressed", _day(INCIDENTS.concept_drift_from)),
}


def _episode(frame: Any, title: str, first: str) -> None:
    """An incident listed with its first window (in the latest window's reasons or the incidents list)."""
    items = frame.locator("li.finding, li.episode").filter(has_text=title)
    texts = items.all_inner_texts()
    assert any(first in t for t in texts), f"{title} not shown with its first window {first}: {texts}"


def test_dashboard_shows_each_incident_with_its_first_window(browser: Browser) -> None:
    frame = browser.open("/mlmonitor/")
    card = frame.locator("article.model", has_text="carloan")
    assert card.locator(".badge.st-alert").first.is_visible()
    assert "unhealthy since 2024-04-02 00:00 (28 windows)" in card.inner_text()
    for title, first in INCIDENT_REASONS.values():
        _episode(card, title, first)
    assert card.locator(".strip a.cell").count() == DAYS and "Apr 29" in card.locator(".strip-dates").inner_text()
    browser.shot("02-dashboard-light", frame)


def test_model_page_reasons_distributions_and_quality(browser: Browser) -> None:
    frame = browser.open("/mlmonitor/models/carloan")
    for title, first in INCIDENT_REASONS.values():
        _episode(frame.locator("#why, #incidents"), title, first)
    # what moved: the training vs window distribution of the region and the income drift
    for column in ("region", "income"):
        bars = frame.locator(f'svg[data-chart^="distribution-{column}-"]').first
        assert bars.is_visible() and bars.locator("rect.bar-window").count() >= 5
    region_note = frame.locator("#col-region .note").inner_text()
    assert "south 20% → 4" in region_note or "south 20% → 5" in region_note, region_note  # 20 % -> ~50 %
    # the concept drift in the quality section: accuracy below its limit from the day it started
    accuracy = frame.locator('svg[data-chart="quality-accuracy"]')
    assert accuracy.locator('circle[data-status="alert"]').count() >= 5
    hit = accuracy.locator("rect.hit").nth(INCIDENTS.concept_drift_from)
    hit.scroll_into_view_if_needed()
    hit.hover()
    tip = frame.locator("#tip")
    assert tip.is_visible()
    text = tip.inner_text()
    assert f"window {_day(INCIDENTS.concept_drift_from)} 00:00 UTC" in text and "(alert)" in text
    assert "alert limit: 0.6" in text and "baseline (training table)" in text, text
    assert frame.locator("#quality").get_by_text("Label coverage").is_visible()
    # the window's status changed when the labels arrived, and says so
    row = frame.locator(f"#w-{(START + dt.timedelta(days=INCIDENTS.concept_drift_from)):%Y%m%d%H%M}")
    assert "was warning when monitored" in row.inner_text()
    # calmer: stable columns are sparkline rows; a drift chart has both signals and plain-language legends
    assert frame.locator('svg[data-chart="spark-age"]').count() == 1
    legend = frame.locator('svg[data-chart="drift-income"]').locator("xpath=..").locator(".legend").inner_text()
    assert "distance moved (training std)" in legend and "change of the NULL share" in legend
    browser.shot("03-model-light", frame)


def test_window_page_and_its_data_docs_failures_first(browser: Browser, api_server: dict[str, Any]) -> None:
    key = f"{START + dt.timedelta(days=INCIDENTS.quality_incident):%Y%m%dT%H%M}"
    frame = browser.open(f"/mlmonitor/models/carloan/windows/{key}")
    assert "33." in frame.locator("#why").inner_text()  # the NULL share observed
    assert frame.locator('svg[data-chart^="distribution-employment_type-"]').count() == 1
    browser.shot("04-window", frame)
    frame.get_by_role("link", name="Data Docs (failures first)").click()
    docs = browser.frame(f"/mlmonitor/models/carloan/windows/{key}/docs")
    docs.wait_for_load_state("load")
    failed = docs.locator("ul.findings li.finding")
    assert failed.count() == 2 and "credit_score: must not be NULL" in failed.first.inner_text()
    ge = next(f for f in _wait_frames(browser, "/site/validations/carloan/"))
    ge.wait_for_load_state("load")
    _assert_styled_by_vendored_assets(ge, browser)
    assert ge.evaluate("getComputedStyle(document.querySelector('footer')).display") == "none"  # no newsletter
    browser.shot("05-data-docs", docs)
    docs.get_by_role("link", name="← back to the window on the dashboard").click()
    browser.frame(f"/mlmonitor/models/carloan/windows/{key}").wait_for_load_state("load")


def _wait_frames(browser: Browser, part: str) -> Iterator[Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = [f for f in browser.page.frames if part in f.url]
        if found:
            yield from found
            return
        browser.page.wait_for_timeout(200)
    raise AssertionError(f"no frame with {part}: {[f.url for f in browser.page.frames]}")


def test_run_tabs_data_docs_on_monitor_runs_and_a_short_message_elsewhere(browser: Browser) -> None:
    day = INCIDENTS.quality_incident
    run_id = f"scheduled__{START + dt.timedelta(days=day + 1):%Y-%m-%dT%H:%M:%S}+00:00"
    browser.page.goto(f"{browser.base}/dags/mlmonitor_carloan/runs/{run_id}/plugin/mlmonitor-run-data-docs")
    tab = browser.frame(f"/mlmonitor/runs/mlmonitor_carloan/{quote(run_id, safe='')}")
    tab.wait_for_load_state("load")
    assert "Failed expectations (2)" in tab.locator("main").inner_text()
    next(_wait_frames(browser, "/site/validations/carloan/")).wait_for_load_state("load")
    browser.page.screenshot(path=str(ARTIFACTS / "06-run-data-docs-tab.png"))
    labels_run = f"scheduled__{START + dt.timedelta(days=55):%Y-%m-%dT%H:%M:%S}+00:00"
    browser.page.goto(f"{browser.base}/dags/mlmonitor_carloan_labels/runs/{labels_run}/plugin/mlmonitor-run-data-docs")
    tab = browser.frame(f"/mlmonitor/runs/mlmonitor_carloan_labels/{quote(labels_run, safe='')}")
    tab.wait_for_load_state("load")
    text = tab.locator("main").inner_text()
    assert "Data Docs are for monitor runs" in text and "re-scores the quality" in text
    assert tab.locator("iframe").count() == 0 and tab.locator("header").count() == 0  # no Airflow inside Airflow
    browser.page.screenshot(path=str(ARTIFACTS / "07-non-monitor-run-tab.png"))


def test_both_themes_follow_airflow(browser: Browser) -> None:
    browser.theme("dark")
    frame = browser.open("/mlmonitor/models/carloan")
    assert frame.evaluate("document.documentElement.classList.contains('dark')")
    dark_bg = frame.evaluate("getComputedStyle(document.body).backgroundColor")
    host_bg = browser.page.evaluate("getComputedStyle(document.body).backgroundColor")
    browser.shot("08-model-dark", frame)
    frame = browser.open("/mlmonitor/")
    browser.shot("09-dashboard-dark", frame)
    # toggling Airflow's theme while a page is open re-themes it at once (no reload)
    browser.page.evaluate("document.documentElement.classList.replace('dark', 'light')")
    frame.wait_for_function("document.documentElement.classList.contains('light')")
    browser.theme("light")
    light_bg = browser.open("/mlmonitor/").evaluate("getComputedStyle(document.body).backgroundColor")
    assert _luminance(dark_bg) < 0.25 < 0.75 < _luminance(light_bg), (dark_bg, light_bg)
    assert dark_bg == host_bg or _luminance(host_bg) < 0.25  # Airflow's own dark background, copied


def _luminance(css: str) -> float:
    """Lightness 0..1 of a computed colour: rgb() or Chakra's oklch()."""
    import re

    values = [float(x) for x in re.findall(r"[\d.]+", css)]
    if css.startswith("oklch"):
        return values[0] if values[0] <= 1 else values[0] / 100
    r, g, b = values[:3]
    return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255


def test_usable_at_800_px_without_sideways_scrolling(browser: Browser) -> None:
    browser.width = 800
    try:
        key = f"{START + dt.timedelta(days=INCIDENTS.quality_incident):%Y%m%dT%H%M}"
        for name, path in (
            ("10-dashboard-800", "/mlmonitor/"),
            ("11-model-800", "/mlmonitor/models/carloan"),
            ("12-window-800", f"/mlmonitor/models/carloan/windows/{key}"),
            ("13-data-docs-800", f"/mlmonitor/models/carloan/windows/{key}/docs"),
        ):
            frame = browser.open(path)
            _no_overflow(frame)
            browser.shot(name, frame)
        shell = browser.page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        assert shell[0] <= shell[1], shell
    finally:
        browser.width = 1400


def test_a_script_in_data_docs_cannot_act_with_the_viewers_session(
    browser: Browser, api_server: dict[str, Any]
) -> None:
    """GE writes serving values into its pages unescaped; a logged `<img onerror=...>` would run. In the
    opaque origin the pages get, it runs without the viewer's Airflow session."""
    site = Path(api_server["gx_root"]) / "gx" / "uncommitted" / "data_docs" / "local_site"
    page = site / "validations" / "carloan" / "hostile" / "x" / "page.html"
    page.parent.mkdir(parents=True)
    script = (
        "fetch('/api/v2/dags?hostile=1').then(r => d.leak = String(r.status), e => d.leak = 'blocked');"
        "try { d.storage = String(localStorage.getItem('theme')) } catch (e) { d.storage = 'blocked' }"
        "try { d.cookie = String(document.cookie) } catch (e) { d.cookie = 'blocked' }"
    )
    page.write_text(
        f'<html><body>a logged value: <img src=x onerror="const d = document.body.dataset; {script}"></body></html>'
    )
    browser.page.goto(f"{browser.base}/mlmonitor/docs/validations/carloan/hostile/x/page.html")
    browser.page.wait_for_function("document.body.dataset.leak !== undefined")
    assert "/mlmonitor/d/" in browser.page.url  # served under a grant
    seen = browser.page.evaluate("({...document.body.dataset})")
    # the script ran, but Airflow's cookies and storage are not its own, and the API refused it
    assert seen == {"leak": "blocked", "storage": "blocked", "cookie": "blocked"}, seen
    api = [u for u in browser.requested if "hostile=1" in u]
    assert api and not any(browser.cookies_sent[u] for u in api), "the page's script called the API with the session"


def test_demo_runs_look_natural_and_tasks_log_what_they_found(browser: Browser) -> None:
    api = browser.page.request
    runs = api.get(f"{browser.base}/api/v2/dags/mlmonitor_carloan/dagRuns?limit=100&run_type=scheduled").json()
    scheduled = runs["dag_runs"]
    assert len(scheduled) >= DAYS
    for run in scheduled:
        assert run["logical_date"] == run["data_interval_start"], run
        assert run["dag_run_id"].startswith("scheduled__")
        took = dt.datetime.fromisoformat(run["end_date"]) - dt.datetime.fromisoformat(run["start_date"])
        assert took < dt.timedelta(minutes=10), (run["dag_run_id"], took)  # not "946d"
    run_id = quote(scheduled[0]["dag_run_id"], safe="")
    logs = api.get(
        f"{browser.base}/api/v2/dags/mlmonitor_carloan/dagRuns/{run_id}/taskInstances/persist/logs/1",
        headers={"Accept": "application/json"},
    ).json()
    assert "persisted" in json.dumps(logs), logs
    labels_run = quote(f"scheduled__{START + dt.timedelta(days=55):%Y-%m-%dT%H:%M:%S}+00:00", safe="")
    gate = api.get(
        f"{browser.base}/api/v2/dags/mlmonitor_carloan_labels/dagRuns/{labels_run}/taskInstances/gate/logs/1",
        headers={"Accept": "application/json"},
    ).json()
    assert "quality regressed: window 2024-04-22" in json.dumps(
        gate
    ) and "/mlmonitor/models/carloan/windows/" in json.dumps(gate)
    browser.page.goto(f"{browser.base}/dags/mlmonitor_carloan")
    browser.page.get_by_text("mlmonitor_carloan").first.wait_for()
    browser.page.wait_for_timeout(1500)
    browser.page.screenshot(path=str(ARTIFACTS / "14-dag-runs.png"))
    doc = api.get(f"{browser.base}/api/v2/dags/mlmonitor_carloan/details").json()["doc_md"]
    assert "](mlmonitor/models/carloan)" in doc  # the DAG's docs link its dashboard


def test_trigger_form_marks_no_optional_field_required(browser: Browser) -> None:
    browser.page.goto(f"{browser.base}/dags/mlmonitor_carloan")
    browser.page.get_by_role("button", name="Trigger").first.click()
    dialog = browser.page.get_by_role("dialog")
    dialog.wait_for()
    dialog.get_by_text("Window start").first.wait_for()
    required = dialog.locator(".chakra-field__requiredIndicator, [data-part='required-indicator']")
    assert required.count() == 0, required.all_inner_texts()
    browser.page.screenshot(path=str(ARTIFACTS / "15-trigger-form.png"))


def _assert_styled_by_vendored_assets(frame: Any, browser: Browser) -> None:
    """Bootstrap's rules apply (its navbar is a flex box, its table borders collapse) and Font Awesome's
    icon font came from the vendor folder, under the page's grant."""
    style = frame.evaluate(
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
    fonts = frame.evaluate(
        "() => document.fonts.ready.then(fs => [...fs].filter(f => f.status == 'loaded').map(f => f.family))"
    )
    assert any("Font Awesome" in f for f in fonts), fonts
    vendored = {u: s for u, s in browser.responses.items() if "/vendor/" in u and "/mlmonitor/d/" in u}
    assert vendored and set(vendored.values()) == {200}, vendored
    assert any(u.endswith(".woff2") for u in vendored), vendored
