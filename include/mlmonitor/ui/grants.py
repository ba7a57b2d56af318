"""Data Docs grants: short-lived signed tokens naming the models whose Data Docs a user may read.

Data Docs pages are served in an opaque origin (CSP `sandbox`), so a script in a page cannot act with
the viewer's Airflow session, and for the same reason the browser sends no session cookie with what
such a page loads (scripts, styles, fonts, the next page). So the plugin checks the user once, on the
cookie-authenticated `/mlmonitor/docs/...` URL, and redirects to the site under a grant: an HMAC-signed
list of the models that user may read and an expiry, carried in the path. Every file under a grant is
checked against its models. A grant leaks nothing a user of those models could not read for its
lifetime; it carries no Airflow credential.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterable
from dataclasses import dataclass

GRANT_SECONDS = 8 * 3600


@dataclass(frozen=True)
class Grant:
    models: frozenset[str]
    expires: int  # Unix time


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(secret: bytes, payload: str) -> str:
    return _b64(hmac.new(secret, payload.encode("ascii"), hashlib.sha256).digest()[:18])


def make_grant(secret: bytes, models: Iterable[str], now: float, seconds: int = GRANT_SECONDS) -> str:
    """A token granting the Data Docs of `models` until `now + seconds`."""
    payload = _b64(json.dumps({"m": sorted(set(models)), "e": int(now) + seconds}, separators=(",", ":")).encode())
    return f"{payload}.{_sign(secret, payload)}"


def read_grant(secret: bytes, token: str, now: float) -> Grant | None:
    """The grant a token carries, or None when it is forged, malformed or expired."""
    payload, _, signature = token.partition(".")
    if not payload or not hmac.compare_digest(signature.encode("ascii", "replace"), _sign(secret, payload).encode()):
        return None
    try:
        data = json.loads(_unb64(payload))
        models, expires = frozenset(str(m) for m in data["m"]), int(data["e"])
    except (ValueError, KeyError, TypeError):
        return None
    return Grant(models, expires) if expires > now else None
