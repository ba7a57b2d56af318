"""The warehouses every warehouse test runs on: the params of the `engine` fixture (tests/conftest.py)
and of the test modules that build their own warehouse fixture from `<param>_database`."""

from __future__ import annotations

import pytest

WAREHOUSES = [
    "sqlite",
    pytest.param("postgres", marks=pytest.mark.postgres),
    pytest.param("mariadb", marks=pytest.mark.mariadb),
]
