"""No secrets in the repository: every tracked file is scanned for credentials that must only ever
come from Airflow Connections or the environment."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# A URL password that is a placeholder (`${VAR}`, `{password}`, `***`, `<...>`) is not a secret.
_PLACEHOLDER = r"(?:\$\{[^}]*\}|\{[^}]*\}|\*+|<[^>]*>|%\([^)]*\)s)"
PATTERNS = {
    "private key": re.compile(r"-----BEGIN (?:[A-Z]+ )*PRIVATE KEY-----"),
    "Slack token": re.compile(r"\bxox[bpaosr]-[0-9A-Za-z-]{10,}"),
    "Slack webhook URL": re.compile(r"hooks\.slack\.com/services/T[0-9A-Z]{6,}/B[0-9A-Z]{6,}/[0-9A-Za-z]{12,}"),
    "AWS access key id": re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    "AWS secret access key": re.compile(r"aws_secret_access_key\s*[=:]\s*['\"]?[A-Za-z0-9/+]{40}\b", re.I),
    "password in a URL": re.compile(rf"\b[a-z][a-z0-9+.-]*://[^\s/:@'\"]+:(?!{_PLACEHOLDER}@)[^\s/@'\"{{}}]+@", re.I),
}


def scan_text(text: str) -> list[str]:
    """Names of the secret kinds found in `text`, with the line number of each hit."""
    hits = []
    for number, line in enumerate(text.splitlines(), 1):
        hits += [f"line {number}: {kind}" for kind, pattern in PATTERNS.items() if pattern.search(line)]
    return hits


def tracked_files() -> list[Path]:
    out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True)
    return [ROOT / name for name in out.stdout.decode().split("\0") if name]


def test_no_tracked_file_holds_a_secret() -> None:
    found = {}
    for path in tracked_files():
        if not path.is_file():
            continue
        data = path.read_bytes()
        if b"\0" in data[:8192]:
            continue  # binary
        hits = scan_text(data.decode("utf-8", errors="replace"))
        if hits:
            found[str(path.relative_to(ROOT))] = hits
    assert not found, f"secrets in tracked files (move them to a Connection or the environment): {found}"


def test_the_scanner_finds_each_kind_of_secret() -> None:
    # built at run time so that this file itself stays clean
    samples = {
        "private key": "-----BEGIN RSA " + "PRIVATE KEY-----",
        "Slack token": "token = 'xo" + "xb-1234567890-abcdefghijkl'",
        "Slack webhook URL": "https://hooks.slack.com/services/" + "T0123ABCD/B0123ABCD/abcdefghijklmnopqrstuvwx",
        "AWS access key id": "AK" + "IAIOSFODNN7EXAMPLE",
        "AWS secret access key": "aws_secret_access_key = " + "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "password in a URL": "postgresql://user:" + "hunter2@db:5432/warehouse",
    }
    for kind, text in samples.items():
        assert scan_text(text) == [f"line 1: {kind}"], kind


def test_placeholders_and_password_less_urls_are_not_secrets() -> None:
    clean = [
        "postgresql+psycopg2://airflow:${AIRFLOW_DB_PASSWORD:?set it}@postgres:5432/airflow",
        "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres",
        "postgresql://user:***@host/db",
        "snowflake://{user}:{password}@{account}/db",
        "https://airflow.apache.org/docs/apache-airflow/stable/",
        "sqlite:////tmp/warehouse.db",
    ]
    for text in clean:
        assert scan_text(text) == [], text
