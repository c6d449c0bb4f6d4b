"""Base class of optimizer configs: frozen dataclasses with JSON round trip and shared value checks.

Every optimizer config subclasses :class:`OptimizerConfig`: keyword-only fields, each defaulted to the
`reference` preset except `seed`, which is required; `__post_init__` validates; `to_dict()` gives plain JSON
types and `from_dict()` rejects unknown keys by name.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any, NoReturn, TypeVar

from optimizers.errors import ConfigError

__all__ = ["OptimizerConfig"]

_C = TypeVar("_C", bound="OptimizerConfig")


@dataclasses.dataclass(frozen=True, kw_only=True)
class OptimizerConfig:
    """Fields shared by every optimizer config.

    Attributes:
        seed: seed of the optimizer's own random generator (required; never the clock, never global state).
    """

    seed: int  # required: seeds the optimizer's own np.random.Generator

    def __post_init__(self) -> None:
        self._check_int("seed", minimum=0)

    # ----------------------------------------------------------------------------------------------- round trip
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types (tuples become lists), keys sorted."""
        out: dict[str, Any] = {}
        for field in sorted(dataclasses.fields(self), key=lambda f: f.name):
            value = getattr(self, field.name)
            out[field.name] = list(value) if isinstance(value, tuple) else value
        return out

    @classmethod
    def field_names(cls) -> list[str]:
        """Names of the config fields, sorted."""
        return sorted(f.name for f in dataclasses.fields(cls))

    @classmethod
    def from_dict(cls: type[_C], data: Mapping[str, Any]) -> _C:
        """Build a config from a mapping, e.g. the output of :meth:`to_dict` or user options.

        Raises:
            ConfigError: on a key that is not a field (the message lists the valid ones), a missing `seed`, or
                an invalid value.
        """
        valid = cls.field_names()
        unknown = sorted(set(data) - set(valid))
        if unknown:
            raise ConfigError(f"unknown option(s) {unknown} for {cls.__name__}; valid options: {valid}")
        if "seed" not in data:
            raise ConfigError(f"{cls.__name__} needs an explicit integer `seed` (e.g. seed=0); none was given")
        kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        return cls(**kwargs)

    def replace(self: _C, **changes: Any) -> _C:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    # ------------------------------------------------------------------------------------------------ checks
    def _fail(self, name: str, expected: str, fix: str) -> NoReturn:
        value = getattr(self, name)
        raise ConfigError(f"{type(self).__name__}.{name} must be {expected}; got {value!r}. {fix}")

    def _check_int(self, name: str, *, minimum: int) -> None:
        value = getattr(self, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            self._fail(name, f"an integer >= {minimum}", f"Pass e.g. {name}={max(minimum, 1)}.")

    def _check_float(self, name: str, *, positive: bool = True, optional: bool = False) -> None:
        value = getattr(self, name)
        if optional and value is None:
            return
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        if ok and positive:
            ok = value > 0
        if not ok:
            what = "a positive finite number" if positive else "a finite number"
            self._fail(name, what + (" or None" if optional else ""), "Pass a value like 0.1.")
        if value is not None and not isinstance(value, float):
            object.__setattr__(self, name, float(value))

    def _check_vector(self, name: str, dim: int | None = None) -> None:
        """Check an optional tuple of finite floats (e.g. `x0`); converts lists to tuples of floats."""
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

    def _check_choice(self, name: str, choices: Sequence[str]) -> None:
        if getattr(self, name) not in choices:
            self._fail(name, f"one of {list(choices)}", f"Pick one of {list(choices)}.")
