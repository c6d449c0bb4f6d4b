"""Client-side black-box optimizers: numpy in, numpy out, one ask/tell protocol, a registry by name.

Registered names: ``cma`` (CMA-ES via pycma), ``dc-cma`` (divide-and-conquer over blocks, BBTv2),
``bo-ucb`` (GP-UCB via BoTorch), ``random`` (random search); any nevergrad optimizer as ``ng:<Name>``; a user's
own :class:`Optimizer` subclass as ``package.module:Class``. The package imports numpy and pycma only: torch and
BoTorch load when ``bo-ucb`` is asked for, nevergrad when an ``ng:`` name is. It imports nothing of ``bbt_mp2``.

Example:
    >>> from optimizers import make_optimizer
    >>> opt = make_optimizer("cma", dim=8, seed=0, sigma0=1.0)
    >>> X = opt.ask()                       # 20 x 8 float64
    >>> opt.tell(X, (X ** 2).sum(axis=1))   # 20 losses
"""

from __future__ import annotations

import importlib
from typing import Any

from optimizers.base import STATE_FORMAT, Optimizer
from optimizers.cma import CMA, CMAConfig
from optimizers.configs import ConfigBase, OptimizerConfig
from optimizers.dc import DivideAndConquer, DivideAndConquerCMA, DivideAndConquerConfig, InnerFactory
from optimizers.errors import (
    ConfigError,
    OptimizerError,
    OptimizerStateError,
    ResumeError,
    ShapeError,
    UnknownNameError,
)
from optimizers.random_search import RandomSearch, RandomSearchConfig
from optimizers.registry import (
    get_optimizer_class,
    make_optimizer,
    optimizer_names,
    register_lazy,
    register_optimizer,
)

register_lazy("bo-ucb", "optimizers.bo")

# names whose modules need heavy optional dependencies: imported on first use
_LAZY = {
    "BOUCB": "optimizers.bo",
    "BOUCBConfig": "optimizers.bo",
    "kappa_to_beta": "optimizers.bo",
    "NevergradConfig": "optimizers.nevergrad",
    "NevergradOptimizer": "optimizers.nevergrad",
    "nevergrad_class": "optimizers.nevergrad",
}

__all__ = [
    "BOUCB",
    "BOUCBConfig",
    "CMA",
    "CMAConfig",
    "ConfigBase",
    "ConfigError",
    "DivideAndConquer",
    "DivideAndConquerCMA",
    "DivideAndConquerConfig",
    "InnerFactory",
    "NevergradConfig",
    "NevergradOptimizer",
    "Optimizer",
    "OptimizerConfig",
    "OptimizerError",
    "OptimizerStateError",
    "RandomSearch",
    "RandomSearchConfig",
    "ResumeError",
    "STATE_FORMAT",
    "ShapeError",
    "UnknownNameError",
    "get_optimizer_class",
    "kappa_to_beta",
    "make_optimizer",
    "nevergrad_class",
    "optimizer_names",
    "register_lazy",
    "register_optimizer",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'optimizers' has no attribute {name!r}")
