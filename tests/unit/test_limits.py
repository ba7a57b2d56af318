"""Bounds on versions and stored strings (mlmonitor.limits)."""

from __future__ import annotations

from mlmonitor.limits import OTHER_VERSIONS, VERSION_CHARS, bound_versions, clip, version_key


def test_clip_keeps_short_texts_and_keeps_long_ones_apart() -> None:
    assert clip("1.0.0", 10) == "1.0.0"
    a, b = clip("x" * 300 + "a", 64), clip("x" * 300 + "b", 64)
    assert len(a) == len(b) == 64 and a != b and a.startswith("x" * 55 + "…")
    assert clip("x" * 300 + "a", 64) == a  # stable: the same key every window


def test_bound_versions_keeps_the_top_and_sums_the_rest() -> None:
    assert bound_versions({"b": 5, "a": 3}, 8) == {"a": 3, "b": 5}
    assert bound_versions({"b": 5, "a": 3}, 10) == {"a": 3, "b": 5, OTHER_VERSIONS: 2}
    long = "v" * 200
    assert bound_versions({long: 4}, 4) == {version_key(long): 4}
    assert len(version_key(long)) == VERSION_CHARS
