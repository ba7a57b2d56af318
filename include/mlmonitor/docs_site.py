"""Resolving a request path to a file of the Data Docs site without leaving the site folder."""

from __future__ import annotations

from pathlib import Path


def docs_file(site: Path, relative: str) -> Path | None:
    """The file `relative` names inside `site` (a folder means its index.html), or None when it does not
    exist or lies outside the site (`..`, absolute paths, symlinks pointing out)."""
    root = site.resolve()
    if "\x00" in relative:
        return None
    target = (root / relative.lstrip("/")).resolve()
    if not target.is_relative_to(root):
        return None
    if target.is_dir():
        target = target / "index.html"
    return target if target.is_file() else None
