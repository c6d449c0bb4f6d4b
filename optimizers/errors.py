"""Errors raised by the optimizers.

The toolkit has one error hierarchy, rooted at :class:`bbt_mp2.errors.BbtError`; this module re-exports the
classes the optimizers raise and adds :class:`OptimizerStateError` for ask/tell protocol misuse (telling a
population that was not asked, asking for a result before anything was told). Importing ``bbt_mp2.errors``
pulls in no model code.
"""

from __future__ import annotations

from bbt_mp2.errors import BbtError, ConfigError, ResumeError, ShapeError, UnknownNameError

__all__ = ["ConfigError", "OptimizerStateError", "ResumeError", "ShapeError", "UnknownNameError"]


class OptimizerStateError(BbtError, RuntimeError):
    """The ask/tell protocol was broken: `tell` without a matching `ask`, or `best` before any `tell`."""

    code = "optimizer_state_error"
