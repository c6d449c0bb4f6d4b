"""Registry of tuning methods and of named hyper-parameter presets.

Each method package registers ``(name, ConfigCls, MethodCls)`` and its presets when imported
(``bbt_mp2.methods`` imports them all). A preset is a named dict of config values; ``reference`` (the released
code) is every config's defaults, ``paper`` the values the papers state. Every value stays overridable.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bbt_mp2.errors import ConfigError, UnknownNameError
from bbt_mp2.methods.base import MethodConfig, TuningMethod

__all__ = [
    "MethodEntry",
    "register_method",
    "register_preset",
    "get_method",
    "method_names",
    "preset_names",
    "get_preset",
    "build_config",
    "config_from_dict",
]


@dataclass(frozen=True)
class MethodEntry:
    """A registered method: its name, config class and method class."""

    name: str
    config_cls: type[MethodConfig]
    method_cls: type[TuningMethod]


_METHODS: dict[str, MethodEntry] = {}
_PRESETS: dict[str, dict[str, dict[str, Any]]] = {}  # preset -> method -> values


def register_method(name: str, config_cls: type[MethodConfig], method_cls: type[TuningMethod]) -> MethodEntry:
    """Register a method under ``name``; a name collision raises :class:`ConfigError`."""
    if name in _METHODS:
        raise ConfigError(f"method {name!r} is already registered ({_METHODS[name].method_cls.__name__})")
    entry = MethodEntry(name, config_cls, method_cls)
    _METHODS[name] = entry
    _PRESETS.setdefault("reference", {})[name] = {}
    return entry


def register_preset(preset: str, method: str, values: Mapping[str, Any]) -> None:
    """Register the values of ``preset`` for ``method``; keys are checked against the method's config."""
    entry = get_method(method)
    entry.config_cls.from_dict(dict(values))  # validates keys and values now, not at use
    _PRESETS.setdefault(preset, {})[method] = dict(values)


def get_method(name: str) -> MethodEntry:
    """The registered method ``name``; :class:`UnknownNameError` lists the valid names."""
    try:
        return _METHODS[name]
    except KeyError:
        raise UnknownNameError(f"unknown method {name!r}; choose one of {method_names()}") from None


def method_names() -> list[str]:
    """Names of the registered methods, in registration order."""
    return list(_METHODS)


def preset_names() -> list[str]:
    """Names of the registered presets."""
    return sorted(_PRESETS)


def get_preset(preset: str, method: str) -> dict[str, Any]:
    """The values of ``preset`` for ``method`` (empty = the config defaults)."""
    if preset not in _PRESETS:
        raise UnknownNameError(f"unknown preset {preset!r}; choose one of {preset_names()}")
    get_method(method)
    return dict(_PRESETS[preset].get(method, {}))


def build_config(method: str, preset: str = "reference", overrides: Mapping[str, Any] | None = None) -> MethodConfig:
    """The config of ``method``: its defaults, then ``preset`` values, then ``overrides``.

    Raises:
        UnknownNameError: unknown method or preset.
        ConfigError: an override key the config does not have (named), or an invalid value.
    """
    entry = get_method(method)
    values = {**get_preset(preset, method), **dict(overrides or {})}
    return entry.config_cls.from_dict(values)


def config_from_dict(method: str, data: Mapping[str, Any]) -> MethodConfig:
    """Rebuild a saved method config (``config.json``) by method name."""
    return get_method(method).config_cls.from_dict(data)
