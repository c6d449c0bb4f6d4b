"""Errors raised by the optimizers (their own hierarchy: ``optimizers`` imports nothing of ``bbt_mp2``).

Every class inherits :class:`OptimizerError` and the matching builtin, so ``except ValueError`` keeps working
(the ``bbt-mp2`` CLI reports both this hierarchy and ``bbt_mp2.errors.BbtError`` as user errors). Messages state
what was expected, what was got, and how to fix it.
"""

from __future__ import annotations

__all__ = [
    "OptimizerError",
    "ConfigError",
    "OptimizerStateError",
    "ResumeError",
    "ShapeError",
    "UnknownNameError",
]


class OptimizerError(Exception):
    """Base class of every error the optimizers raise."""

    code = "optimizer_error"


class ConfigError(OptimizerError, ValueError):
    """An optimizer option is invalid, unknown, or contradicts another."""

    code = "config_error"


class ShapeError(OptimizerError, ValueError):
    """A population or a loss vector has the wrong shape, or holds NaN/inf."""

    code = "shape_error"


class UnknownNameError(OptimizerError, KeyError):
    """A registry lookup failed; the message lists the valid names."""

    code = "unknown_name"

    def __str__(self) -> str:  # KeyError quotes its argument; keep the message readable
        return str(self.args[0]) if self.args else ""


class ResumeError(OptimizerError):
    """A saved optimizer state does not fit this optimizer (other name, dimension, config or library version)."""

    code = "resume_error"


class OptimizerStateError(OptimizerError, RuntimeError):
    """The ask/tell protocol was broken: `tell` without a matching `ask`, or `best` before any `tell`."""

    code = "optimizer_state_error"
