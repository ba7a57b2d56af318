"""A local recording Slack server: the real provider hooks and slack_sdk post to it over HTTP."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest


@dataclass
class Recorder:
    """Requests received (path, JSON body) and scripted responses (status, headers[, seconds to wait
    before answering]), served in order; when the script is empty every request succeeds as Slack's."""

    url: str
    requests: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    script: list[tuple[Any, ...]] = field(default_factory=list)
    webhook: bool = True

    def bodies(self) -> list[dict[str, Any]]:
        return [body for _, body in self.requests]

    def webhook_connection(self) -> str:
        return json.dumps({"conn_type": "slackwebhook", "host": f"{self.url}/services", "password": "T0/B0/secret"})

    def bot_connection(self) -> str:
        return json.dumps({"conn_type": "slack", "password": "xoxb-test", "extra": {"base_url": f"{self.url}/api/"}})


@pytest.fixture
def slack_server() -> Iterator[Recorder]:
    recorder = Recorder("")
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with lock:
                recorder.requests.append((self.path, json.loads(raw or b"{}")))
                status, headers, *wait = recorder.script.pop(0) if recorder.script else (200, {})
            if wait:
                time.sleep(wait[0])  # longer than the client's timeout: it gives up and retries
            api = self.path.startswith("/api/")
            body = (json.dumps({"ok": status == 200}) if api else ("ok" if status == 200 else "error")).encode()
            with contextlib.suppress(OSError):  # after a wait the client may have closed the connection
                self.send_response(status)
                self.send_header("Content-Type", "application/json" if api else "text/plain")
                self.send_header("Content-Length", str(len(body)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    recorder.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield recorder
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def client(airflow_db: Path) -> Any:
    import os
    import secrets

    # the API server signs and checks JWTs with this secret (generated per test session)
    os.environ.setdefault("AIRFLOW__API_AUTH__JWT_SECRET", secrets.token_urlsafe(64))
    from airflow.api_fastapi.app import create_app
    from fastapi.testclient import TestClient

    with TestClient(create_app(), base_url="http://127.0.0.1:8080") as c:
        yield c


@pytest.fixture(scope="module")
def token(client: Any) -> str:
    """A JWT issued by the API server's own auth manager (simple auth manager, admin role)."""
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    return get_auth_manager().generate_jwt(SimpleAuthManagerUser(username="admin", role="admin"))
