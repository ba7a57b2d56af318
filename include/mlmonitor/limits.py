"""Bounds on what one window stores and shows, whatever the serving data holds: model versions (the
most served ones plus one "other" bucket) and long strings (clipped, still distinct)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

# a version as stored: `share:<version>` and `model_age_days:<version>` must fit the results tables'
# metric column (String(128)); a longer version string is clipped
VERSION_CHARS = 64
# a serving value kept in a metric's details (unseen categories, failed expectations' samples)
VALUE_CHARS = 200
# the rows of every version beyond the most served `serving.max_model_versions`
OTHER_VERSIONS = "(other versions)"


def clip(text: str, limit: int) -> str:
    """`text` when it fits in `limit` characters; else its head, an ellipsis and 8 hex digits of its
    SHA-256, so two long texts with the same head stay two keys."""
    if len(text) <= limit:
        return text
    return f"{text[: limit - 9]}…{hashlib.sha256(text.encode()).hexdigest()[:8]}"


def version_key(version: str) -> str:
    """A model version as it is stored and shown (and compared with allowed_model_versions)."""
    return clip(version, VERSION_CHARS)


def bound_versions(top: Mapping[str, int], total: int) -> dict[str, int]:
    """The most served versions (clipped), and the rows of all others under OTHER_VERSIONS."""
    out = {version_key(v): n for v, n in sorted(top.items())}
    rest = total - sum(top.values())
    if rest > 0:
        out[OTHER_VERSIONS] = rest
    return out
