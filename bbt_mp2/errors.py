"""Error hierarchy of bbt-mp2.

Every error a user can trigger is a subclass of :class:`BbtError`; most also inherit the matching builtin so
``except ValueError`` keeps working. Messages state what was expected, what was got, and how to fix it.
The server maps each class to one HTTP status and a ``{code, message}`` body.
"""

from __future__ import annotations

__all__ = [
    "BbtError",
    "ConfigError",
    "ShapeError",
    "UnknownNameError",
    "DataError",
    "BudgetExceededError",
    "BackendError",
    "ResumeError",
    "CheckpointError",
]


class BbtError(Exception):
    """Base class of every bbt-mp2 error."""

    code = "bbt_error"


class ConfigError(BbtError, ValueError):
    """A configuration value is invalid or two values contradict each other."""

    code = "config_error"


class ShapeError(BbtError, ValueError):
    """An array or tensor has the wrong shape, dtype, or holds NaN/inf."""

    code = "shape_error"


class UnknownNameError(BbtError, KeyError):
    """A registry lookup failed; the message lists the valid names."""

    code = "unknown_name"

    def __str__(self) -> str:  # KeyError quotes its argument; keep the message readable
        return str(self.args[0]) if self.args else ""


class DataError(BbtError, ValueError):
    """A data file is missing, malformed, or holds an unknown label; the message names file and line."""

    code = "data_error"


class BudgetExceededError(BbtError):
    """A call would exceed the API-call budget."""

    code = "budget_exceeded"


class BackendError(BbtError):
    """The backend (local evaluator or remote service) failed or answered with an error."""

    code = "backend_error"


class ResumeError(BbtError):
    """A run directory cannot be resumed (config, versions or state do not match)."""

    code = "resume_error"


class CheckpointError(BbtError, ValueError):
    """An MP2 checkpoint is missing, malformed, or made for another backbone or other shapes."""

    code = "checkpoint_error"
