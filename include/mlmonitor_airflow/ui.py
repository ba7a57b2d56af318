"""The FastAPI app the plugin mounts at /mlmonitor on the Airflow API server.

Thin: it authenticates through Airflow's auth manager (the UI's `_token` cookie or a Bearer JWT),
authorizes per model (read access to the model's monitor DAG), reads the results tables through the
models' Airflow connections (bounded in SQL, with a statement timeout) and serves what the pure core
renders (`mlmonitor.ui.dashboard`, `prometheus`, `docs_site`).

Routes (the URL contract of `mlmonitor.ui.links`):
  /                                   every model the user may read, with its status, why and since when
  /models/{model}                     one model over its recent windows (?windows=N, default 366)
  /models/{model}/windows/{key}       one window: why, what moved, quality, evidence
  /models/{model}/windows/{key}/docs  the window's Data Docs, failed expectations first
  /runs/{dag_id}/{run_id}             the same for an Airflow run (the "Data Docs" run tab); a message elsewhere
  /data-docs                          Great Expectations' site index inside the dashboard
  /docs/{path}                        a Data Docs file: checks the user, then redirects under a grant
  /d/{grant}/{theme}/site/{path}      the Data Docs site under a grant (opaque origin, per-model checks)
  /d/{grant}/{theme}/vendor/{path}    the vendored scripts, stylesheets and fonts those pages load
  /static/{path}                      the dashboard's own script and stylesheet
  /metrics                            Prometheus text format; public when [mlmonitor] metrics_public is true
Anonymous browser requests are redirected to the login page, other anonymous requests get 401.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

from fastapi import Depends, FastAPI, HTTPException, Query, Request, status
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import FileResponse, HTMLResponse, PlainTextResponse, RedirectResponse, Response
from fastapi.security import HTTPAuthorizationCredentials
from sqlalchemy.exc import SQLAlchemyError

from mlmonitor.config import ModelConfig, load_models
from mlmonitor.dialect import limit_statements
from mlmonitor.errors import MlmonitorError
from mlmonitor.names import baseline_dag_id, labels_dag_id, model_of_monitor_dag, monitor_dag_id
from mlmonitor.project import default_project
from mlmonitor.storage.results import find_run
from mlmonitor.ui import dashboard, prometheus
from mlmonitor.ui.docs_site import (
    CONTENT_SECURITY_POLICY as DOCS_CSP,
)
from mlmonitor.ui.docs_site import (
    DARK_STYLESHEET,
    THEMES,
    Theme,
    allowed,
    always_dark,
    classify,
    docs_file,
    filter_index,
    model_list_page,
    offline_css,
    offline_page,
)
from mlmonitor.ui.grants import make_grant, read_grant
from mlmonitor.ui.html import CONTENT_SECURITY_POLICY, Shell, page
from mlmonitor.ui.links import (
    PLUGIN_PREFIX,
    dashboard_url,
    granted_base_url,
    metrics_url,
    parse_window_key,
    static_base_url,
)

log = logging.getLogger(__name__)
MAX_WINDOWS = 5000
SHOWN = dashboard.WINDOWS_SHOWN
NAV_ROUTE = "mlmonitor"  # the url_route of the nav entry: the dashboard inside Airflow's shell
STATIC_DIR = Path(__file__).resolve().parent / "static"
VENDOR_DIR = STATIC_DIR / "vendor"
# vendored files carry their version in the path: a browser may keep them for a day
STATIC_CACHE = "private, max-age=86400"
_PROCESS_SECRET = os.urandom(32)


def _conf() -> Any:
    from airflow.configuration import conf

    return conf


def _base_path() -> str:
    """The path part of [api] base_url, so links work when Airflow is served under a sub-path."""
    return urlsplit(_conf().get("api", "base_url", fallback="") or "").path.rstrip("/")


def _return_url(request: Request) -> str:
    """Where the login page sends the browser back: the requested path and query on the scheme and host of
    [api] base_url, never on the request's Host header (a forged Host would make the login page redirect to
    another site after signing in). Without a base_url host the URL is relative to this server."""
    base = urlsplit(_conf().get("api", "base_url", fallback="") or "")
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return f"{base.scheme}://{base.netloc}{path}" if base.scheme and base.netloc else path


def metrics_public() -> bool:
    """[mlmonitor] metrics_public (env AIRFLOW__MLMONITOR__METRICS_PUBLIC): let scrapers in without a token."""
    return bool(_conf().getboolean("mlmonitor", "metrics_public", fallback=False))


def statement_timeout() -> float:
    """[mlmonitor] ui_statement_timeout (seconds, default 10): the longest a UI read may take."""
    return float(_conf().getfloat("mlmonitor", "ui_statement_timeout", fallback=10.0))


def _grant_secret() -> bytes:
    """The key that signs Data Docs grants, derived from [api_auth] jwt_secret (shared by every api-server
    worker, like the JWTs); a per-process key when it is unset (grants then live as long as the process)."""
    jwt_secret = _conf().get("api_auth", "jwt_secret", fallback="") or ""
    if not jwt_secret:
        return _PROCESS_SECRET
    return hmac.new(jwt_secret.encode(), b"mlmonitor data docs grant", hashlib.sha256).digest()


async def _user(request: Request) -> Any:
    """The authenticated Airflow user (Bearer token first, then the UI's cookie), or HTTP 401."""
    from airflow.api_fastapi.core_api.security import bearer_scheme, get_user

    credentials: HTTPAuthorizationCredentials | None = await bearer_scheme(request)
    return await get_user(request, None, credentials)


def _auth_manager() -> Any:
    from airflow.api_fastapi.app import get_auth_manager

    return get_auth_manager()


def _require(allowed_: Callable[[], bool]) -> None:
    if not allowed_():
        raise HTTPException(status.HTTP_403_FORBIDDEN, "Forbidden: your Airflow role may not see this page")


async def website_user(request: Request) -> Any:
    """Any user allowed to use the Airflow UI."""
    from airflow.api_fastapi.auth.managers.models.resource_details import AccessView

    user = await _user(request)
    _require(lambda: _auth_manager().is_authorized_view(access_view=AccessView.WEBSITE, user=user))
    return user


async def metrics_user(request: Request) -> Any:
    return None if metrics_public() else await website_user(request)


User = Annotated[Any, Depends(website_user)]


def can_read_model(user: Any, model: str) -> bool:
    """Results of a model are visible to whoever may read its monitor DAG."""
    from airflow.api_fastapi.auth.managers.models.resource_details import DagDetails

    details = DagDetails(id=monitor_dag_id(model))
    return bool(_auth_manager().is_authorized_dag(method="GET", details=details, user=user))


@contextmanager
def results_engine(model: ModelConfig) -> Iterator[Any]:
    """The model's results database, every statement bounded by [mlmonitor] ui_statement_timeout."""
    from mlmonitor_airflow.connections import warehouse_engine

    engine = limit_statements(warehouse_engine(model.results_conn_id or model.warehouse_conn_id), statement_timeout())
    try:
        yield engine
    finally:
        engine.dispose()


def _models() -> dict[str, ModelConfig]:
    try:
        return {m.name: m for m in load_models()}
    except MlmonitorError as exc:
        raise Unavailable("The model configuration is invalid", str(exc)) from exc


class Unavailable(Exception):
    """A page that cannot be built (broken model YAML, unreachable results database): shown, not a 500."""

    def __init__(self, title: str, text: str) -> None:
        super().__init__(text)
        self.title, self.text = title, text


def _unavailable(model: str, exc: Exception) -> Unavailable:
    return Unavailable(f"Results of {model} are unavailable", f"{type(exc).__name__}: {exc}")


def _html(text: str, code: int = 200) -> HTMLResponse:
    headers = {
        "Cache-Control": "no-store",
        "Content-Security-Policy": CONTENT_SECURITY_POLICY,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
    }
    return HTMLResponse(text, status_code=code, headers=headers)


def _shell(request: Request | None) -> Shell:
    """Where the page lives: the plugin's URLs and the same page inside Airflow's shell."""
    base = _base_path()
    in_shell = f"{base}/plugin/{NAV_ROUTE}{request.url.path}" if request is not None else None
    return Shell(
        base=base,
        static=static_base_url(base),
        dashboard=dashboard_url(base),
        docs_index=f"{base}{PLUGIN_PREFIX}/data-docs",
        metrics=metrics_url(base),
        in_shell=in_shell,
        now=dt.datetime.now(dt.UTC).replace(tzinfo=None),
    )


def _readable(user: Any, models: dict[str, ModelConfig]) -> list[str]:
    return [name for name in models if can_read_model(user, name)]


def _config(model: str, user: Any) -> ModelConfig:
    config = _models().get(model)
    if config is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"No model named {model!r} is configured")
    _require(lambda: can_read_model(user, model))
    return config


def _window_start(key: str) -> dt.datetime:
    start = parse_window_key(key)
    if start is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"{key!r} is not a window (expected e.g. 20240422T0000)")
    return start


def _load_window(config: ModelConfig, start: dt.datetime) -> dashboard.WindowPage | None:
    try:
        with results_engine(config) as engine:
            return dashboard.load_window(engine, config.name, start, description=config.description, base=_base_path())
    except (MlmonitorError, SQLAlchemyError) as exc:
        raise _unavailable(config.name, exc) from exc


def _frame_src(grant: str, path: str) -> str:
    """The Data Docs page under a grant; "auto" is the theme segment the page script replaces."""
    return f"{granted_base_url(_base_path(), grant)}/auto/site/{quote(path.lstrip('/'))}"


def _grant_for(user: Any, models: dict[str, ModelConfig]) -> str:
    return make_grant(_grant_secret(), _readable(user, models), time.time())


def create_app() -> FastAPI:
    app = FastAPI(title="mlmonitor", description="ML monitoring dashboard, Data Docs and metrics", docs_url=None)

    @app.exception_handler(HTTPException)
    async def login_redirect(request: Request, exc: HTTPException) -> Response:
        """Browsers without a valid session go to Airflow's login page and come back afterwards; other
        refusals of a browser get a page of the dashboard saying why."""
        wants_html = "text/html" in request.headers.get("accept", "")
        if exc.status_code == status.HTTP_401_UNAUTHORIZED and wants_html and request.method == "GET":
            return RedirectResponse(_auth_manager().get_url_login(next_url=_return_url(request)), status_code=303)
        if wants_html and exc.status_code in (status.HTTP_403_FORBIDDEN, status.HTTP_404_NOT_FOUND):
            title = "Not allowed" if exc.status_code == status.HTTP_403_FORBIDDEN else "Not found"
            return _html(dashboard.render_message(title, str(exc.detail), _shell(None)), exc.status_code)
        return await http_exception_handler(request, exc)

    @app.exception_handler(Unavailable)
    async def unavailable(request: Request, exc: Unavailable) -> Response:
        return _html(dashboard.render_message(exc.title, exc.text, _shell(None)), 503)

    @app.get("/", response_class=HTMLResponse)
    def index(request: Request, user: User) -> HTMLResponse:
        base = _base_path()
        summaries = []
        for name, model in _models().items():
            if not can_read_model(user, name):
                continue
            try:
                with results_engine(model) as engine:
                    summaries.append(dashboard.load_summary(engine, name, model.description, base))
            except (MlmonitorError, SQLAlchemyError) as exc:
                error = f"results unavailable: {type(exc).__name__}: {exc}"
                summaries.append(
                    dashboard.ModelSummary(model=name, description=model.description, latest=None, error=error)
                )
        return _html(dashboard.render_index(summaries, _shell(request)))

    @app.get("/models/{model}", response_class=HTMLResponse)
    def model_page(
        request: Request,
        model: str,
        user: User,
        windows: Annotated[int, Query(ge=1, le=MAX_WINDOWS)] = dashboard.WINDOWS_SHOWN,
    ) -> HTMLResponse:
        config = _config(model, user)
        try:
            with results_engine(config) as engine:
                view = dashboard.load_model(
                    engine,
                    model,
                    config.description,
                    windows=windows,
                    has_labels=config.labels is not None,
                    base=_base_path(),
                )
        except (MlmonitorError, SQLAlchemyError) as exc:
            raise _unavailable(model, exc) from exc
        return _html(dashboard.render_model(view, _shell(request)))

    @app.get("/models/{model}/windows/{key}", response_class=HTMLResponse)
    def window(request: Request, model: str, key: str, user: User) -> HTMLResponse:
        config = _config(model, user)
        found = _load_window(config, _window_start(key))
        if found is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"No monitored window of {model} starts at {key}")
        return _html(dashboard.render_window(found, _shell(request)))

    def docs_wrapper(request: Request, user: Any, config: ModelConfig, start: dt.datetime) -> HTMLResponse:
        found = _load_window(config, start)
        if found is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"No monitored window of {config.name} starts at {start}")
        if not found.view.docs_path:
            text = (
                f"The window {start:%Y-%m-%d %H:%M} of {config.name} has no Data Docs page: it was empty "
                "(nothing to validate) or its validate task has not finished."
            )
            return _html(dashboard.render_message("No Data Docs for this window", text, _shell(request)), 404)
        src = _frame_src(_grant_for(user, _models()), found.view.docs_path)
        return _html(dashboard.render_docs(found.view, src, _shell(request)))

    @app.get("/models/{model}/windows/{key}/docs", response_class=HTMLResponse)
    def window_docs(request: Request, model: str, key: str, user: User) -> HTMLResponse:
        return docs_wrapper(request, user, _config(model, user), _window_start(key))

    @app.get("/runs/{dag_id}/{run_id}", response_class=HTMLResponse)
    def run_docs(request: Request, dag_id: str, run_id: str, user: User) -> Response:
        """The "Data Docs" tab of a DAG run: the run's window with its failures first for a monitor DAG,
        an honest short message for any other DAG (Airflow 3.3 cannot show a tab on some DAGs only)."""
        models = _models()
        model = model_of_monitor_dag(dag_id) or ""
        config = models.get(model)
        if config is None:
            text, where = _not_a_monitor_run(dag_id, models)
            page_ = dashboard.render_message("Data Docs are for monitor runs", text, _shell(request), where=where)
            return _html(page_, 200)
        _require(lambda: can_read_model(user, model))
        try:
            with results_engine(config) as engine:
                row = find_run(engine, model, run_id)
        except (MlmonitorError, SQLAlchemyError) as exc:
            raise _unavailable(model, exc) from exc
        if row is None:
            text = (
                f"Run {run_id} of {dag_id} has not written a window yet: its persist task has not finished, or "
                "it failed before (see its task logs)."
            )
            return _html(dashboard.render_message("No Data Docs for this run yet", text, _shell(request)), 200)
        return docs_wrapper(request, user, config, row["window_start"])

    @app.get("/data-docs", response_class=HTMLResponse)
    def data_docs(request: Request, user: User) -> HTMLResponse:
        """Great Expectations' site index (only the user's models) inside the dashboard."""
        src = _frame_src(_grant_for(user, _models()), "index.html")
        shell = _shell(request)
        frame = (
            f'<iframe class="docs" data-src="{src}" title="Great Expectations Data Docs" '
            'sandbox="allow-scripts allow-popups allow-popups-to-escape-sandbox" referrerpolicy="no-referrer"></iframe>'
        )
        body = (
            "<h1>Data Docs</h1><p class=hint>Great Expectations' validation results and suites of the models you "
            "may read. Each model's validations by window: <code>mlmonitor/&lt;model&gt;.html</code> in the site."
            f"</p>{frame}"
        )
        return _html(page("Data Docs · ML Monitoring", body, shell, crumbs=(("Data Docs", None),)))

    @app.get("/docs/{path:path}")
    def docs(path: str, user: User) -> Response:
        """A Data Docs file for a logged-in user: checked against the user's models, then served under a
        grant (the pages run in an opaque origin, where no session cookie goes along)."""
        models = _models()
        relative = path or "index.html"
        if docs_file(default_project().docs_dir, relative) is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"No Data Docs page {path!r}")
        readable = _readable(user, models)
        access = classify(relative, models)
        if access.kind == "unknown":
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"No Data Docs page {path!r}")
        _require(lambda: allowed(access, readable) and bool(readable))
        grant = make_grant(_grant_secret(), readable, time.time())
        return RedirectResponse(_frame_src(grant, relative), status_code=303)

    @app.get("/d/{grant}/{theme}/site/{path:path}")
    def granted_site(grant: str, theme: str, path: str) -> Response:
        """The Data Docs site under a grant: every path is decided by the models it shows."""
        readable = _granted(grant)
        mode = _theme(theme)
        relative = path or "index.html"
        site = default_project().docs_dir
        models = _models()
        access = classify(relative, models)
        if access.kind == "unknown" or not allowed(access, readable):
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"No Data Docs page {path!r}")
        found = docs_file(site, relative)
        if found is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"No Data Docs page {path!r}")
        headers = _docs_headers()
        suffix = found.suffix.lower()
        if suffix == ".css":
            text = offline_css(found.read_text(encoding="utf-8", errors="replace"))
            return Response(text, media_type="text/css", headers=headers)
        if suffix not in (".html", ".htm"):
            return FileResponse(found, headers=headers)
        text = found.read_text(encoding="utf-8", errors="replace")
        if access.kind == "index":
            text = filter_index(text, models, readable) or model_list_page(readable)
        root = granted_base_url(_base_path(), grant) + f"/{mode}"
        page = offline_page(text, root, f"{root}/site", mode)
        return HTMLResponse(page, headers={**headers, "Content-Security-Policy": DOCS_CSP})

    @app.get("/d/{grant}/{theme}/vendor/{path:path}")
    def granted_vendor(grant: str, theme: str, path: str) -> Response:
        """The vendored libraries Data Docs pages load (public npm packages), to holders of a grant."""
        _granted(grant)
        mode = _theme(theme)
        found = docs_file(VENDOR_DIR, path)
        if found is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"No vendored file {path!r}")
        headers = {**_docs_headers(), "Cache-Control": STATIC_CACHE}
        if mode == "dark" and path.startswith(DARK_STYLESHEET + "/") and found.suffix == ".css":
            return Response(always_dark(found.read_text(encoding="utf-8")), media_type="text/css", headers=headers)
        return FileResponse(found, headers=headers)

    def _granted(grant: str) -> frozenset[str]:
        found = read_grant(_grant_secret(), grant, time.time())
        if found is None:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                "This Data Docs link has expired or is not valid: open Data Docs again from the dashboard",
            )
        return found.models

    @app.get("/static/{path:path}")
    def static(path: str, user: User) -> Response:
        found = docs_file(STATIC_DIR, path)
        if found is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"No static file {path!r}")
        media = "text/javascript" if found.suffix == ".js" else None
        return FileResponse(found, media_type=media, headers={"Cache-Control": "no-cache"})

    @app.get("/metrics", response_class=PlainTextResponse)
    def metrics(request: Request, user: Annotated[Any, Depends(metrics_user)]) -> Response:
        triples = []
        for name, model in _models().items():
            if user is not None and not can_read_model(user, name):
                continue
            try:
                with results_engine(model) as engine:
                    triples.append(
                        (name, prometheus.latest_run(engine, name), prometheus.latest_metric_rows(engine, name))
                    )
            except (MlmonitorError, SQLAlchemyError) as exc:
                log.warning("metrics of %s unavailable: %s", name, exc)
        return Response(prometheus.exposition(triples), media_type=prometheus.CONTENT_TYPE)

    return app


def _theme(theme: str) -> Theme:
    for t in THEMES:
        if t == theme:
            return t
    raise HTTPException(status.HTTP_404_NOT_FOUND, f"Unknown theme {theme!r} (one of {', '.join(THEMES)})")


def _docs_headers() -> dict[str, str]:
    """Headers of everything under a grant: not kept by shared caches, not sent as a referrer; readable
    from the opaque origin of the pages (fonts and `crossorigin` scripts are CORS requests there)."""
    return {
        "Cache-Control": "private, no-store",
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
        "Access-Control-Allow-Origin": "*",
    }


def _not_a_monitor_run(dag_id: str, models: dict[str, ModelConfig]) -> tuple[str, tuple[str, str] | None]:
    """What the Data Docs tab says on a DAG that is not a monitor DAG, and where to look instead."""
    base = _base_path()
    for name in models:
        if dag_id == baseline_dag_id(name):
            text = (
                f"{dag_id} derives the expectation suites of {name}; they are validated by the runs of "
                f"{monitor_dag_id(name)}, whose run tabs show each window's Data Docs."
            )
            return text, (f"Open {name} on the monitoring dashboard", dashboard_url(base, name))
        if dag_id == labels_dag_id(name):
            text = (
                f"{dag_id} re-scores the quality of recent windows of {name} as labels arrive; their quality and "
                "the windows whose quality regressed show on the dashboard."
            )
            return text, (f"Open the quality of {name}", dashboard_url(base, name) + "#quality")
    text = (
        f"{dag_id} is not monitored by mlmonitor. This tab shows Great Expectations results for runs of "
        "mlmonitor_<model> DAGs only (Airflow 3.3 shows plugin tabs on every DAG)."
    )
    return text, None
