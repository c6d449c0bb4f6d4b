"""Client-side black-box optimizers: numpy in, numpy out, one ask/tell protocol, a registry by name.

Registered names: ``cma`` (CMA-ES via pycma), ``dc-cma`` (divide-and-conquer over blocks, BBTv2),
``bo-ucb`` (GP-UCB via BoTorch), ``random`` (random search). Each has the presets ``paper`` and ``reference``.

Example:
    >>> from optimizers import make_optimizer
    >>> opt = make_optimizer("cma", dim=8, seed=0, sigma0=1.0)
    >>> X = opt.ask()                       # 20 x 8 float64
    >>> opt.tell(X, (X ** 2).sum(axis=1))   # 20 losses
"""

from __future__ import annotations

from optimizers.base import STATE_FORMAT, Optimizer
from optimizers.bo import BOUCB, BOUCBConfig, kappa_to_beta
from optimizers.cma import CMA, CMAConfig
from optimizers.configs import OptimizerConfig
from optimizers.dc import DivideAndConquer, DivideAndConquerCMA, DivideAndConquerConfig, InnerFactory
from optimizers.errors import OptimizerStateError
from optimizers.random_search import RandomSearch, RandomSearchConfig
from optimizers.registry import (
    get_optimizer_class,
    get_preset,
    make_optimizer,
    optimizer_names,
    preset_names,
    register_optimizer,
    register_preset,
)

__all__ = [
    "BOUCB",
    "BOUCBConfig",
    "CMA",
    "CMAConfig",
    "DivideAndConquer",
    "DivideAndConquerCMA",
    "DivideAndConquerConfig",
    "InnerFactory",
    "Optimizer",
    "OptimizerConfig",
    "OptimizerStateError",
    "RandomSearch",
    "RandomSearchConfig",
    "STATE_FORMAT",
    "get_optimizer_class",
    "get_preset",
    "kappa_to_beta",
    "make_optimizer",
    "optimizer_names",
    "preset_names",
    "register_optimizer",
    "register_preset",
]
