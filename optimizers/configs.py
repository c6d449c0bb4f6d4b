"""The config base of the whole project, and the base of optimizer configs.

:class:`ConfigBase` is written once here and used by every config of the toolkit: optimizer configs (below),
method configs (:mod:`bbt_mp2.methods.base`), the pre-training config and the MP2 checkpoint config (through
:mod:`bbt_mp2.config`, which binds the error class to :class:`bbt_mp2.errors.ConfigError`). It lives in
``optimizers`` because that package must stay usable alone (numpy only, no import of ``bbt_mp2``) while
``bbt_mp2`` may import ``optimizers``.

A config is a frozen, keyword-only dataclass: validation in :meth:`ConfigBase.validate` (called by
``__post_init__``; subclasses extend it with ``super().validate()``), a JSON round trip (:meth:`to_dict` /
:meth:`from_dict`, :meth:`to_json` / :meth:`from_json`, keys sorted) in which unknown keys are rejected by name with
the valid keys listed, and :meth:`parse_value` for ``--set key=value`` strings. A field may hold another config
(e.g. a run config's ``method_config``): it is written as a nested mapping and rebuilt by
:meth:`ConfigBase.nested_config_class`.

Example:
    >>> from optimizers import CMAConfig
    >>> cfg = CMAConfig(seed=0, sigma0=0.5)
    >>> CMAConfig.from_json(cfg.to_json()) == cfg
    True
"""

from __future__ import annotations

import dataclasses
import json
import math
import typing
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, NoReturn, TypeVar

from optimizers.errors import ConfigError

__all__ = ["ConfigBase", "OptimizerConfig"]

_C = TypeVar("_C", bound="ConfigBase")
_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")


@dataclasses.dataclass(frozen=True, kw_only=True)
class ConfigBase:
    """Base of every config: frozen, keyword-only, validated, JSON round trip, unknown keys rejected by name.

    Class attributes:
        error: the exception class raised on an invalid config (``optimizers.errors.ConfigError`` here;
            :class:`bbt_mp2.config.Config` binds ``bbt_mp2.errors.ConfigError``).
        label: how messages name the config (default: the class name).
    """

    error: ClassVar[type[Exception]] = ConfigError
    label: ClassVar[str] = ""

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Check every field; subclasses extend it (``super().validate()`` first). Raises ``self.error``."""

    # ----------------------------------------------------------------------------------------------- round trip
    @classmethod
    def _label(cls) -> str:
        return cls.label or cls.__name__

    @classmethod
    def field_names(cls) -> list[str]:
        """Names of the config fields, sorted."""
        return sorted(f.name for f in dataclasses.fields(cls))

    @classmethod
    def field_defaults(cls) -> dict[str, Any]:
        """``{field: default}`` of the fields that have one (default factories called)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            if f.default is not dataclasses.MISSING:
                out[f.name] = f.default
            elif f.default_factory is not dataclasses.MISSING:
                out[f.name] = f.default_factory()
        return out

    @classmethod
    def required_fields(cls) -> list[str]:
        """Names of the fields without a default (seeds, data paths, shapes), sorted."""
        return sorted(f.name for f in dataclasses.fields(cls) if f.name not in cls.field_defaults())

    def to_dict(self) -> dict[str, Any]:
        """Every field as plain JSON types (tuples become lists and nested configs dicts, recursively), keys sorted."""
        return {name: _plain(getattr(self, name)) for name in self.field_names()}

    def to_json(self, *, indent: int | None = 2) -> str:
        """:meth:`to_dict` as JSON text with sorted keys."""
        return json.dumps(self.to_dict(), indent=indent, sort_keys=True)

    @classmethod
    def from_dict(cls: type[_C], data: Mapping[str, Any]) -> _C:
        """Build a config from a mapping (the output of :meth:`to_dict`, a JSON file, user options).

        Lists become tuples and JSON integers become floats where the field is a float; missing keys take their
        default.

        Raises:
            ``cls.error``: a key that is not a field (named, with the valid keys listed), a missing required field,
                or an invalid value.
        """
        if not isinstance(data, Mapping):
            raise cls.error(f"{cls._label()} must be built from a mapping of field values; got {type(data).__name__}")
        valid = cls.field_names()
        unknown = sorted(set(data) - set(valid))
        if unknown:
            raise cls.error(f"{cls._label()} got unknown keys {unknown}; valid keys: {valid}")
        missing = [k for k in cls.required_fields() if k not in data]
        if missing:
            raise cls.error(f"{cls._label()} needs {missing} (no default); give e.g. {missing[0]}=...")
        hints = typing.get_type_hints(cls)
        values = {}
        for k, v in data.items():
            nested = cls.nested_config_class(k, data) if isinstance(v, Mapping) else None
            values[k] = nested.from_dict(v) if nested is not None else _coerce(hints.get(k), v)
        try:
            return cls(**values)
        except TypeError as exc:  # a value the dataclass machinery itself rejects
            raise cls.error(f"{cls._label()}: {exc}") from exc

    @classmethod
    def nested_config_class(cls, name: str, data: Mapping[str, Any]) -> type[ConfigBase] | None:
        """The config class that :meth:`from_dict` rebuilds field ``name`` with when it is given as a mapping.

        Default: the field's annotated class when it is a :class:`ConfigBase` subclass, else None (the mapping is
        kept as is). Override it where the class depends on another field of ``data`` (e.g. a run config whose
        ``method_config`` class is chosen by its ``method``); ``data`` has passed the unknown/missing-key checks.
        """
        hint = typing.get_type_hints(cls).get(name)
        return hint if isinstance(hint, type) and issubclass(hint, ConfigBase) else None

    @classmethod
    def from_json(cls: type[_C], text: str) -> _C:
        """Inverse of :meth:`to_json`. Raises ``cls.error`` on malformed JSON or an invalid config."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise cls.error(f"{cls._label()}: malformed JSON ({exc})") from exc
        return cls.from_dict(data)

    def replace(self: _C, **changes: Any) -> _C:
        """A copy with some fields changed, validated again (unknown keys rejected by name)."""
        return type(self).from_dict({**self.to_dict(), **changes})

    @classmethod
    def parse_value(cls, key: str, text: str) -> Any:
        """Parse the string ``text`` as the value of field ``key`` (for ``--set key=value``).

        ``none``/``null`` give None where the field allows it; booleans accept true/false/1/0/yes/no/on/off;
        sequences are comma-separated (``1,2,3``).

        Raises:
            ``cls.error``: unknown key (valid keys listed) or a value that does not parse as the field type.
        """
        if key not in cls.field_names():
            raise cls.error(f"unknown setting {key!r} for {cls._label()}; valid keys: {cls.field_names()}")
        hint = typing.get_type_hints(cls)[key]
        value = _parse(hint, text.strip())
        if value is _FAIL:
            raise cls.error(f"setting {key}={text!r} does not parse as {_type_name(hint)}; give a value of that type")
        return value

    # ------------------------------------------------------------------------------------------------ checks
    def _fail(self, name: str, expected: str, fix: str) -> NoReturn:
        value = getattr(self, name)
        raise self.error(f"{self._label()}.{name} must be {expected}; got {value!r}. {fix}")

    def _check_int(self, name: str, *, minimum: int, optional: bool = False) -> None:
        value = getattr(self, name)
        if optional and value is None:
            return
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            self._fail(name, f"an integer >= {minimum}" + (" or None" if optional else ""),
                       f"Pass e.g. {name}={max(minimum, 1)}.")

    def _check_float(self, name: str, *, positive: bool = True, minimum: float | None = None,
                     optional: bool = False) -> None:
        """A finite number (> 0 when ``positive``, >= ``minimum`` when given); ints are stored as floats."""
        value = getattr(self, name)
        if optional and value is None:
            return
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        if ok and positive and minimum is None:
            ok = value > 0
        if ok and minimum is not None:
            ok = value >= minimum
        if not ok:
            what = ("a positive finite number" if positive and minimum is None else
                    f"a finite number >= {minimum}" if minimum is not None else "a finite number")
            self._fail(name, what + (" or None" if optional else ""), "Pass a value like 0.1.")
        if not isinstance(value, float):
            object.__setattr__(self, name, float(value))

    def _check_vector(self, name: str, dim: int | None = None) -> None:
        """Check an optional flat sequence of finite floats (e.g. ``x0``); stores it as a tuple of floats."""
        value = getattr(self, name)
        if value is None:
            return
        if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) and not hasattr(value, "tolist"):
            self._fail(name, "a sequence of finite floats or None", "Pass e.g. a list of floats.")
        items = value.tolist() if hasattr(value, "tolist") else list(value)
        try:
            floats = tuple(float(v) for v in items)
        except (TypeError, ValueError):
            self._fail(name, "a flat sequence of finite floats or None", "Pass a 1-D list of numbers.")
        if not floats or not all(math.isfinite(v) for v in floats):
            self._fail(name, "a non-empty sequence of finite floats or None", "Remove NaN/inf entries.")
        if dim is not None and len(floats) != dim:
            self._fail(name, f"of length {dim}", f"Pass {dim} values.")
        object.__setattr__(self, name, floats)

    def _check_choice(self, name: str, choices: Sequence[Any]) -> None:
        if getattr(self, name) not in choices:
            self._fail(name, f"one of {list(choices)}", f"Pick one of {list(choices)}.")

    def _check_str(self, name: str, *, optional: bool = False) -> None:
        value = getattr(self, name)
        if optional and value is None:
            return
        if not isinstance(value, str) or not value.strip():
            self._fail(name, "a non-empty string" + (" or None" if optional else ""), f"Pass e.g. {name}='...'.")


@dataclasses.dataclass(frozen=True, kw_only=True)
class OptimizerConfig(ConfigBase):
    """Fields shared by every optimizer config; every other field is defaulted.

    Attributes:
        seed: seed of the optimizer's own random generator (required; never the clock, never global state).
    """

    seed: int  # required: seeds the optimizer's own np.random.Generator

    def validate(self) -> None:
        super().validate()
        self._check_int("seed", minimum=0)


# ------------------------------------------------------------------------------------------------- helpers
def _plain(value: Any) -> Any:
    """Nested configs to their dicts, tuples to lists and mapping keys to strings, recursively (JSON-ready)."""
    if isinstance(value, ConfigBase):
        return value.to_dict()
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def _coerce(hint: Any, value: Any) -> Any:
    """A JSON value back to the field type: lists to tuples (nested), integers to floats for float fields."""
    if isinstance(value, list):
        return tuple(_coerce(None, v) for v in value)
    if hint is None or value is None or isinstance(value, bool) or not isinstance(value, int):
        return value
    args = typing.get_args(hint)
    if (hint is float or float in args) and int not in args:
        return float(value)
    return value


_FAIL = object()


def _parse(hint: Any, text: str) -> Any:
    """``text`` parsed as ``hint`` (None, bool, int, float, str, or a tuple of them); ``_FAIL`` if it does not."""
    args = typing.get_args(hint)
    if text.lower() in ("none", "null") and type(None) in args:
        return None
    origin = typing.get_origin(hint)
    if origin is tuple:
        item = args[0] if args else str
        parts = [_parse(item, p.strip()) for p in text.split(",") if p.strip()]
        return _FAIL if any(p is _FAIL for p in parts) else tuple(parts)
    for t in [a for a in (args or (hint,)) if a is not type(None)]:
        if typing.get_origin(t) is tuple:
            value = _parse(t, text)
        elif t is bool:
            value = True if text.lower() in _TRUE else False if text.lower() in _FALSE else _FAIL
        elif t in (int, float, str):
            try:
                value = t(text)
            except ValueError:
                value = _FAIL
        else:
            value = _FAIL
        if value is not _FAIL:
            return value
    return _FAIL


def _type_name(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")
