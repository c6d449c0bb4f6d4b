"""Optimizers by name, so methods, sweeps and the CLI pick an optimizer with a string.

Three kinds of names resolve here:

* registered names (``cma``, ``dc-cma``, ``bo-ucb``, ``random``); ``bo-ucb`` is registered lazily, so its module
  (torch, BoTorch) is imported only when it is asked for;
* ``ng:<Name>``: any nevergrad optimizer through :mod:`optimizers.nevergrad` (``ng:NGOpt``, ``ng:TBPSA``);
* an import path ``package.module:Class`` naming a user's own :class:`~optimizers.Optimizer` subclass.

Hyper-parameters have one home, the methods' preset tables (``bbt_mp2.methods``); optimizers have defaults only.

Example:
    >>> from optimizers import make_optimizer, optimizer_names
    >>> optimizer_names()
    ['bo-ucb', 'cma', 'dc-cma', 'random']
    >>> opt = make_optimizer("dc-cma", dim=600, seed=1, block_sizes=[300, 300])
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from optimizers.errors import ConfigError, UnknownNameError

if TYPE_CHECKING:
    from optimizers.base import Optimizer

__all__ = ["get_optimizer_class", "make_optimizer", "optimizer_names", "register_optimizer", "register_lazy"]

_NAME = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
_PATH = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
_OPTIMIZERS: dict[str, type[Optimizer]] = {}
_LAZY: dict[str, str] = {}  # name -> module whose import registers it
NEVERGRAD_PREFIX = "ng:"

_T = TypeVar("_T", bound="type[Optimizer]")


def register_optimizer(name: str) -> Callable[[_T], _T]:
    """Class decorator publishing an :class:`~optimizers.Optimizer` subclass under `name`.

    Args:
        name: lowercase-hyphen registry name, e.g. ``"dc-cma"``.

    Raises:
        ConfigError: if `name` is malformed or already taken.
    """
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigError(f"optimizer name {name!r} must be lowercase words joined by hyphens, e.g. 'dc-cma'")

    def decorate(cls: _T) -> _T:
        if name in _OPTIMIZERS:
            raise ConfigError(f"optimizer name {name!r} is already registered by "
                              f"{_OPTIMIZERS[name].__qualname__}; pick another name")
        cls.name = name
        _OPTIMIZERS[name] = cls
        return cls

    return decorate


def register_lazy(name: str, module: str) -> None:
    """Announce that importing `module` registers optimizer `name` (for optimizers with heavy dependencies)."""
    if not _NAME.match(name):
        raise ConfigError(f"optimizer name {name!r} must be lowercase words joined by hyphens, e.g. 'bo-ucb'")
    _LAZY[name] = module


def optimizer_names() -> list[str]:
    """Registered optimizer names, sorted (lazy ones included; ``ng:*`` and import paths are not listed)."""
    return sorted(set(_OPTIMIZERS) | set(_LAZY))


def get_optimizer_class(name: str) -> type[Optimizer]:
    """The optimizer class for `name`: a registered name, ``ng:<Name>`` or ``package.module:Class``.

    Raises:
        UnknownNameError: an unknown name (the registered names are listed), an unknown nevergrad optimizer, or an
            import path that does not import.
        ConfigError: an import path naming something that is not an ``Optimizer`` subclass with a ``config_cls``.
    """
    if not isinstance(name, str):
        raise UnknownNameError(f"optimizer name must be a string; got {name!r}. Registered: {optimizer_names()}")
    if name in _OPTIMIZERS:
        return _OPTIMIZERS[name]
    if name in _LAZY:
        importlib.import_module(_LAZY[name])
        return _OPTIMIZERS[name]
    if name.startswith(NEVERGRAD_PREFIX):
        from optimizers.nevergrad import nevergrad_class  # nevergrad is imported only when asked for

        return nevergrad_class(name)
    if _PATH.match(name):
        return _import_class(name)
    raise UnknownNameError(f"unknown optimizer {name!r}; registered optimizers: {optimizer_names()}, any nevergrad "
                           "optimizer as 'ng:<Name>' (e.g. 'ng:NGOpt'), or your own class as 'package.module:Class'")


def _import_class(path: str) -> type[Optimizer]:
    from optimizers.base import Optimizer

    module_name, _, attr = path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise UnknownNameError(f"optimizer {path!r}: module {module_name!r} does not import ({exc}); put it on "
                               "PYTHONPATH or install it") from exc
    cls = getattr(module, attr, None)
    if cls is None:
        raise UnknownNameError(f"optimizer {path!r}: module {module_name!r} has no attribute {attr!r}")
    if not isinstance(cls, type) or not issubclass(cls, Optimizer):
        raise ConfigError(f"optimizer {path!r} is a {type(cls).__name__}, not an optimizers.Optimizer subclass; "
                          "subclass optimizers.Optimizer with a config_cls (see optimizers.random_search)")
    return cls


def make_optimizer(name: str, *, dim: int, seed: int, **options: Any) -> Optimizer:
    """Build an optimizer by name.

    Args:
        name: a registered name (see :func:`optimizer_names`), ``ng:<Name>`` or ``package.module:Class``.
        dim: D, the number of coordinates.
        seed: seed of the optimizer's generator.
        **options: config fields of the optimizer (e.g. ``sigma0=0.5, popsize=20`` for ``cma``).

    Returns:
        A fresh optimizer.

    Raises:
        UnknownNameError: for an unknown optimizer.
        ConfigError: for an unknown option (the message lists the valid ones) or an invalid value.
    """
    cls = get_optimizer_class(name)
    config = cls.config_cls.from_dict({**options, "seed": seed})
    return cls(config, dim=dim)
