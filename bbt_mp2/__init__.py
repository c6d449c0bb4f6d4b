"""bbt-mp2: gradient-free black-box tuning (BBT, BBTv2, MP2) of frozen language models served as a service."""

from __future__ import annotations

from bbt_mp2.errors import (
    BackendError,
    BbtError,
    BudgetExceededError,
    CheckpointError,
    ConfigError,
    DataError,
    ResumeError,
    ShapeError,
    UnknownNameError,
)

__version__ = "0.1.0"

__all__ = [
    "__version__",
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
