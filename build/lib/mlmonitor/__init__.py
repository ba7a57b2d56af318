"""mlmonitor: the pure core of the ML model monitor (no Airflow imports)."""

from __future__ import annotations

__version__ = "0.1.0"
