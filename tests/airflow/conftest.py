"""A local recording Slack server: the real provider hooks and slack_sdk post to it over HTTP.

Besides webhooks it answers the Web API methods mlmonitor calls as Slack does: chat.postMessage
(with the channel id and the message ts; `thread_ts` makes a reply), chat.update (replaces a posted
message) and users.lookupByEmail (from `Recorder.users`; users_not_found otherwise)."""

from __future__ import annotations

import contextlib
import json
import threading
import time
import urllib.parse
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
    users: dict[str, str] = field(default_factory=dict)  # e-mail -> user id, for users.lookupByEmail
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)  # ts -> the message as it stands now

    def bodies(self) -> list[dict[str, Any]]:
        """Bodies of the posts (webhook or chat.postMessage), in order."""
        return [body for path, body in self.requests if path.startswith("/services/") or path.endswith("postMessage")]

    def calls(self, method: str) -> list[dict[str, Any]]:
        """Bodies (or query parameters) of the Web API calls of `method`, in order."""
        return [body for path, body in self.requests if path == f"/api/{method}"]

    def answer(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """What Slack answers a Web API call."""
        method = path.removeprefix("/api/")
        if method == "users.lookupByEmail":
            user = self.users.get(str(body.get("email")))
            return {"ok": True, "user": {"id": user}} if user else {"ok": False, "error": "users_not_found"}
        if method == "chat.postMessage":
            if body.get("thread_ts") and body["thread_ts"] not in self.messages:
                return {"ok": False, "error": "thread_not_found"}
            ts = f"{1700000000 + len(self.messages)}.000100"
            channel = "C" + str(body.get("channel", "")).strip("#").replace("-", "").upper()
            if str(body.get("channel", "")).startswith("C"):
                channel = str(body["channel"])
            self.messages[ts] = {**body, "channel": channel, "ts": ts}
            return {"ok": True, "channel": channel, "ts": ts, "message": self.messages[ts]}
        if method == "chat.update":
            ts = str(body.get("ts"))
            if ts not in self.messages or self.messages[ts]["channel"] != body.get("channel"):
                return {"ok": False, "error": "message_not_found"}
            self.messages[ts] = {**self.messages[ts], **body}
            return {"ok": True, "channel": body["channel"], "ts": ts}
        return {"ok": True}

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
            path, _, query = self.path.partition("?")
            received = (
                json.loads(raw or b"{}") if raw[:1] in (b"{", b"") else dict(urllib.parse.parse_qsl(raw.decode()))
            )
            received.update(urllib.parse.parse_qsl(query))
            with lock:
                recorder.requests.append((path, received))
                status, headers, *wait = recorder.script.pop(0) if recorder.script else (200, {})
                api = path.startswith("/api/")
                answer = recorder.answer(path, received) if api and status == 200 else {"ok": False}
            if wait:
                time.sleep(wait[0])  # longer than the client's timeout: it gives up and retries
            body = (json.dumps(answer) if api else ("ok" if status == 200 else "error")).encode()
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
