"""Typed errors whose messages name the model, file, table or column and the fix."""

from __future__ import annotations


class MlmonitorError(Exception):
    """Base class of every error mlmonitor raises on purpose."""


class ConfigError(MlmonitorError):
    """A model YAML (or a trigger parameter) is unreadable or invalid."""


class WarehouseError(MlmonitorError):
    """The warehouse is unreachable, or a configured table or column does not exist."""


class WarehouseUnavailable(WarehouseError):
    """The warehouse could not be reached: worth retrying, unlike a missing table or column."""


class BaselineMissing(MlmonitorError):
    """The suite or drift baseline of a model has not been derived yet, or is corrupt."""


class TrainingDataError(MlmonitorError):
    """The training table cannot give a usable baseline (no rows, or statistics that are not finite)."""
