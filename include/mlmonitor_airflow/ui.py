"""The FastAPI app the plugin mounts at /mlmonitor on the Airflow API server.

Thin: it authenticates through Airflow's auth manager (the UI's `_token` cookie or a Bearer JWT),
reads the results tables through the models' Airflow connections and serves what the pure core
renders (`mlmonitor.dashboard`, `mlmonitor.prometheus`, `mlmonitor.docs_site`).

Routes (the URL contract of `mlmonitor.links`):
  /                          every model with its latest status
  /models/{model}            one model's windows and trend charts (needs read access to its monitor DAG)
  /docs/{path}               the Great Expectations Data Docs site, pages rewritten to load nothing from the internet
  /static/{path}             the vendored scripts, stylesheets and fonts those pages load (static/vendor/)
  /runs/{dag_id}/{run_id}    redirect to the Data Docs page of an Airflow run (the dag_run external view)
  /metrics                   Prometheus text format; public when [mlmonitor] metrics_public is true
Anonymous browser requests are redirected to the login page, other anonymous requests get 401.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import Depends, FastAPI, HTTPException, Request, status
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import FileResponse, HTMLResponse, PlainTextResponse, RedirectResponse, Response
from fastapi.security import HTTPAuthorizationCredentials
from sqlalchemy.exc import SQLAlchemyError

from mlmonitor.config import ModelConfig, load_models
from mlmonitor.errors import MlmonitorError
from mlmonitor.names import model_of_monitor_dag, monitor_dag_id
from mlmonitor.project import default_project
from mlmonitor.storage.results import read_metrics, read_runs
from mlmonitor.ui import dashboard, prometheus
from mlmonitor.ui.docs_site import CONTENT_SECURITY_POLICY, docs_file, offline_css, offline_page
from mlmonitor.ui.links import docs_base_url, docs_url, static_base_url

log = logging.getLogger(__name__)
WINDOWS_SHOWN = 366
STATIC_DIR = Path(__file__).resolve().parent / "static"
# vendored files carry their version in the path: a browser may keep them for a day
STATIC_CACHE = "private, max-age=86400"


def _base_path() -> str:
    """The path part of [api] base_url, so links work when Airflow is served under a sub-path."""
    from airflow.configuration import conf

    return urlsplit(conf.get("api", "base_url", fallback="") or "").path.rstrip("/")


def metrics_public() -> bool:
    """[mlmonitor] metrics_public (env AIRFLOW__MLMONITOR__METRICS_PUBLIC): let scrapers in without a token."""
    from airflow.configuration import conf

    return conf.getboolean("mlmonitor", "metrics_public", fallback=False)


async def _user(request: Request) -> Any:
    """The authenticated Airflow user (Bearer token first, then the UI's cookie), or HTTP 401."""
    from airflow.api_fastapi.core_api.security import bearer_scheme, get_user

    credentials: HTTPAuthorizationCredentials | None = await bearer_scheme(request)
    return await get_user(request, None, credentials)


def _auth_manager() -> Any:
    from airflow.api_fastapi.app import get_auth_manager

    return get_auth_manager()


def _require(allowed: Callable[[], bool]) -> None:
    if not allowed():
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
    from mlmonitor_airflow.connections import warehouse_engine

    engine = warehouse_engine(model.results_conn_id or model.warehouse_conn_id)
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
    return HTMLResponse(text, status_code=code, headers={"Cache-Control": "no-store"})


def create_app() -> FastAPI:
    app = FastAPI(title="mlmonitor", description="ML monitoring dashboard, Data Docs and metrics", docs_url=None)

    @app.exception_handler(HTTPException)
    async def login_redirect(request: Request, exc: HTTPException) -> Response:
        """Browsers without a valid session go to Airflow's login page and come back afterwards."""
        wants_html = "text/html" in request.headers.get("accept", "")
        if exc.status_code == status.HTTP_401_UNAUTHORIZED and wants_html and request.method == "GET":
            return RedirectResponse(_auth_manager().get_url_login(next_url=str(request.url)), status_code=303)
        return await http_exception_handler(request, exc)

    @app.exception_handler(Unavailable)
    async def unavailable(request: Request, exc: Unavailable) -> Response:
        return _html(dashboard.render_message(exc.title, exc.text, _base_path()), 503)

    @app.get("/", response_class=HTMLResponse)
    def index(user: User) -> HTMLResponse:
        base = _base_path()
        summaries = []
        for name, model in _models().items():
            if not can_read_model(user, name):
                continue
            try:
                with results_engine(model) as engine:
                    runs = read_runs(engine, name, limit=30)
                    windows = dashboard.window_views(name, runs, [], base)
                summaries.append(dashboard.model_summary(name, model.description, windows))
            except (MlmonitorError, SQLAlchemyError) as exc:
                error = f"results unavailable: {type(exc).__name__}: {exc}"
                summaries.append(dashboard.ModelSummary(name, model.description, None, (), error=error))
        return _html(dashboard.render_index(summaries, base))

    @app.get("/models/{model}", response_class=HTMLResponse)
    def model_page(model: str, user: User) -> HTMLResponse:
        base = _base_path()
        config = _models().get(model)
        if config is None:
            return _html(
                dashboard.render_message("Unknown model", f"No model named {model!r} is configured.", base), 404
            )
        _require(lambda: can_read_model(user, model))
        try:
            with results_engine(config) as engine:
                runs = read_runs(engine, model, limit=WINDOWS_SHOWN)
                oldest = min((r["window_start"] for r in runs), default=None)
                metrics = [m for m in read_metrics(engine, model) if oldest is None or m["window_start"] >= oldest]
        except (MlmonitorError, SQLAlchemyError) as exc:
            raise _unavailable(model, exc) from exc
        view = dashboard.model_view(model, config.description, runs, metrics, base)
        return _html(dashboard.render_model(view, base))

    @app.get("/docs/{path:path}")
    def docs(path: str, user: User) -> Response:
        found = docs_file(default_project().docs_dir, path or "index.html")
        if found is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"No Data Docs page {path!r}")
        headers = {"Cache-Control": "no-store"}
        suffix = found.suffix.lower()
        if suffix in (".html", ".htm", ".css"):  # rewritten so they load nothing from the internet
            text = found.read_text(encoding="utf-8", errors="replace")
            if suffix == ".css":
                return Response(offline_css(text), media_type="text/css", headers=headers)
            base = _base_path()
            page = offline_page(text, static_base_url(base), docs_base_url(base))
            return HTMLResponse(page, headers={**headers, "Content-Security-Policy": CONTENT_SECURITY_POLICY})
        return FileResponse(found, headers=headers)

    @app.get("/static/{path:path}")
    def static(path: str, user: User) -> Response:
        found = docs_file(STATIC_DIR, path)
        if found is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"No static file {path!r}")
        return FileResponse(found, headers={"Cache-Control": STATIC_CACHE})

    @app.get("/runs/{dag_id}/{run_id}", response_class=HTMLResponse)
    def run_docs(dag_id: str, run_id: str, user: User) -> Response:
        """The Data Docs page of an Airflow run of a monitor DAG (target of the dag_run external view)."""
        base = _base_path()
        model = model_of_monitor_dag(dag_id) or ""
        config = _models().get(model)
        if config is None:
            text = f"{dag_id} is not an mlmonitor monitor DAG; Data Docs exist for mlmonitor_<model> runs only."
            return _html(dashboard.render_message("No Data Docs for this DAG", text, base), 404)
        _require(lambda: can_read_model(user, model))
        try:
            with results_engine(config) as engine:
                row = next((r for r in read_runs(engine, model) if r["airflow_run_id"] == run_id), None)
        except (MlmonitorError, SQLAlchemyError) as exc:
            raise _unavailable(model, exc) from exc
        if row is None or not row.get("docs_path"):
            text = (
                f"Run {run_id} of {dag_id} has no Data Docs page yet: its validate task has not finished, "
                "or the window was empty (nothing to validate)."
            )
            return _html(dashboard.render_message("No Data Docs for this run", text, base), 404)
        return RedirectResponse(docs_url(base, row["docs_path"]), status_code=307)

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
