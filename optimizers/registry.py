"""Optimizers and their presets by name, so methods and the CLI pick an optimizer with a string.

Example:
    >>> from optimizers import make_optimizer, optimizer_names
    >>> optimizer_names()
    ['bo-ucb', 'cma', 'dc-cma', 'random']
    >>> opt = make_optimizer("dc-cma", dim=600, seed=1, preset="paper", block_sizes=[300, 300])
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from optimizers.errors import ConfigError, UnknownNameError

if TYPE_CHECKING:
    from optimizers.base import Optimizer

__all__ = [
    "get_optimizer_class",
    "get_preset",
    "make_optimizer",
    "optimizer_names",
    "preset_names",
    "register_optimizer",
    "register_preset",
]

_NAME = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
_OPTIMIZERS: dict[str, type[Optimizer]] = {}
_PRESETS: dict[str, dict[str, tuple[dict[str, Any], str]]] = {}

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


def register_preset(optimizer: str, preset: str, options: Mapping[str, Any], *, source: str = "") -> None:
    """Publish a named set of options for one optimizer (e.g. ``paper`` and ``reference``).

    Args:
        optimizer: registry name of the optimizer.
        preset: preset name, lowercase-hyphen.
        options: config field values (anything but `seed`); explicit options to `make_optimizer` override them.
        source: where the values come from (paper section, file of the reference code).

    Raises:
        ConfigError: on a malformed or duplicate preset name, or options containing `seed`.
    """
    if not _NAME.match(preset):
        raise ConfigError(f"preset name {preset!r} must be lowercase words joined by hyphens, e.g. 'paper'")
    if "seed" in options:
        raise ConfigError(f"preset {optimizer}/{preset} must not fix `seed`; seeds are always passed explicitly")
    table = _PRESETS.setdefault(optimizer, {})
    if preset in table:
        raise ConfigError(f"preset {preset!r} of optimizer {optimizer!r} is already registered")
    table[preset] = (dict(options), source)


def optimizer_names() -> list[str]:
    """Registered optimizer names, sorted."""
    return sorted(_OPTIMIZERS)


def preset_names(optimizer: str) -> list[str]:
    """Preset names registered for `optimizer`, sorted."""
    get_optimizer_class(optimizer)
    return sorted(_PRESETS.get(optimizer, {}))


def get_optimizer_class(name: str) -> type[Optimizer]:
    """The optimizer class registered under `name`.

    Raises:
        UnknownNameError: listing the registered names.
    """
    try:
        return _OPTIMIZERS[name]
    except (KeyError, TypeError):
        raise UnknownNameError(f"unknown optimizer {name!r}; registered optimizers: {optimizer_names()}") from None


def get_preset(optimizer: str, preset: str) -> dict[str, Any]:
    """A copy of the options of preset `preset` of `optimizer`.

    Raises:
        UnknownNameError: for an unknown optimizer or preset (the message lists the valid ones).
    """
    get_optimizer_class(optimizer)
    table = _PRESETS.get(optimizer, {})
    if preset not in table:
        raise UnknownNameError(f"unknown preset {preset!r} for optimizer {optimizer!r}; valid presets: "
                               f"{sorted(table)}")
    return dict(table[preset][0])


def make_optimizer(name: str, *, dim: int, seed: int, preset: str | None = None, **options: Any) -> Optimizer:
    """Build a registered optimizer.

    Args:
        name: registry name (see :func:`optimizer_names`).
        dim: D, the number of coordinates.
        seed: seed of the optimizer's generator.
        preset: optional preset name whose options come first; `options` override them.
        **options: config fields of the optimizer (e.g. ``sigma0=0.5, popsize=20`` for ``cma``).

    Returns:
        A fresh optimizer.

    Raises:
        UnknownNameError: for an unknown optimizer or preset.
        ConfigError: for an unknown option (the message lists the valid ones) or an invalid value.
    """
    cls = get_optimizer_class(name)
    merged = {} if preset is None else get_preset(name, preset)
    merged.update(options)
    merged["seed"] = seed
    config = cls.config_cls.from_dict(merged)
    return cls(config, dim=dim)
