"""What every tuning method shares: the config base class, the :class:`Stage` of a run, the method interface.

A method (BBT, BBTv2, MP2) is a sequence of stages. A stage owns one optimizer over a ``D``-dim search space and
knows how to turn an optimizer population (``P x D``) into the population a Backend scores
(``P x len(layers) x d``). The run loop (:mod:`bbt_mp2.methods.runner`) drives the stages; methods never call the
backend themselves and never touch torch modules.
"""

from __future__ import annotations

import typing
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import MISSING, asdict, dataclass, fields
from typing import Any, ClassVar

import numpy as np

from bbt_mp2.backend import LOSSES, ModelInfo, PromptParam
from bbt_mp2.errors import ConfigError
from bbt_mp2.methods.selection import check_selection

__all__ = ["MethodConfig", "Stage", "TuningMethod", "parse_value", "derive_seeds"]

SEED_NAMES = ("projection", "stage0", "stage1", "stage2")


def derive_seeds(seed: int) -> dict[str, int]:
    """Child seeds of a run seed (``np.random.SeedSequence(seed).spawn``), one per stochastic component.

    Returns:
        ``{"projection": ..., "stage0": ..., "stage1": ..., "stage2": ...}``, 31-bit ints.
    """
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
    children = np.random.SeedSequence(int(seed)).spawn(len(SEED_NAMES))
    return {name: int(c.generate_state(1)[0] & 0x7FFFFFFF) for name, c in zip(SEED_NAMES, children)}


@dataclass(frozen=True)
class MethodConfig:
    """Base of every method config: frozen, defaulted (= ``reference`` preset), JSON round trip.

    Subclasses add their fields; every subclass has ``budget`` (total API calls on the training set),
    ``loss`` and ``eval_every``.

    Attributes:
        optimizer: registry name or import path (``optimizers.make_optimizer``) of the optimizer of the method's
            tuning stage (its last: BBT's CMA-ES, the per-layer CMA-ES of BBTv2 and deep MP2 (kept divide and
            conquer), MP2's stage II, router-only MP2's BO); it gets the stage's start point, step size, population
            size and box where its config has them. None = the method's own optimizer.
        selection: the dev-selection rule (:mod:`bbt_mp2.methods.selection`): ``metric`` (dev metric, ties broken
            by the lower dev loss; default), ``loss`` (dev loss) or ``current`` (the reference code's periodic
            current candidate, strict dev-metric improvement).
    """

    method: ClassVar[str] = ""  # registry name, set by each subclass

    optimizer: str | None = None  # tuning-stage optimizer by name (e.g. "random", "ng:NGOpt"); None = the method's
    selection: str = "metric"  # dev selection rule: metric (ties -> lower dev loss) | loss | current (reference)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict of every field (tuples become lists)."""
        out = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MethodConfig:
        """Build from a dict; unknown keys are rejected by name, missing keys take their default."""
        known = [f.name for f in fields(cls)]
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ConfigError(
                f"{cls.__name__} (method {cls.method!r}) got unknown keys {unknown}; valid keys: {sorted(known)}"
            )
        hints = typing.get_type_hints(cls)
        values = {k: _as_field_type(hints[k], v) for k, v in data.items()}
        return cls(**values)

    def replace(self, **changes: Any) -> MethodConfig:
        """A copy with ``changes`` applied (unknown keys rejected by name)."""
        return type(self).from_dict({**self.to_dict(), **changes})

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    @classmethod
    def field_defaults(cls) -> dict[str, Any]:
        return {f.name: f.default for f in fields(cls) if f.default is not MISSING}

    def _check_common(self) -> None:
        """Validation shared by every method config (call from ``__post_init__``)."""
        budget = getattr(self, "budget", 1)
        if not isinstance(budget, int) or budget <= 0:
            raise ConfigError(f"{self.method}: budget must be a positive number of API calls, got {budget!r}")
        loss = getattr(self, "loss", "auto")
        if loss not in LOSSES:
            raise ConfigError(f"{self.method}: loss {loss!r} is unknown; choose one of {LOSSES}")
        check_selection(self.selection, self.method)  # bbt_mp2.methods.selection
        if self.optimizer is not None and (not isinstance(self.optimizer, str) or not self.optimizer.strip()):
            raise ConfigError(f"{self.method}: optimizer must be an optimizer name (see optimizers.optimizer_names()) "
                              f"or None for the method's own, got {self.optimizer!r}")
        for name in ("eval_every", "popsize", "d", "n_tokens"):
            value = getattr(self, name, 1)
            if value is not None and (not isinstance(value, int) or value <= 0):
                raise ConfigError(f"{self.method}: {name} must be a positive integer, got {value!r}")


def _as_field_type(hint: Any, value: Any) -> Any:
    """Coerce JSON values back to the field type (lists -> tuples, ints -> floats)."""
    if isinstance(value, list):
        return tuple(value)
    args = typing.get_args(hint)
    if value is not None and (hint is float or float in args) and isinstance(value, int) and not isinstance(
        value, bool
    ):
        return float(value)
    return value


def parse_value(config_cls: type[MethodConfig], key: str, text: str) -> Any:
    """Parse the string ``text`` as the value of field ``key`` of ``config_cls`` (for ``--set key=value``).

    ``none``/``null`` give None where the field allows it; booleans accept true/false/1/0/yes/no.

    Raises:
        ConfigError: unknown key (valid keys listed) or a value that does not parse as the field type.
    """
    hints = typing.get_type_hints(config_cls)
    if key not in config_cls.field_names():
        raise ConfigError(
            f"unknown setting {key!r} for method {config_cls.method!r}; valid keys: {config_cls.field_names()}"
        )
    hint = hints[key]
    args = typing.get_args(hint)
    if text.strip().lower() in ("none", "null") and type(None) in args:
        return None
    types = [t for t in (args or (hint,)) if t is not type(None)]
    for t in types:
        try:
            if t is bool:
                low = text.strip().lower()
                if low in ("true", "1", "yes"):
                    return True
                if low in ("false", "0", "no"):
                    return False
                raise ValueError(text)
            if t in (int, float, str):
                return t(text)
        except ValueError:
            continue
    raise ConfigError(f"setting {key}={text!r} does not parse as {hint}; give a value of that type")


@dataclass
class Stage:
    """One optimisation stage of a method.

    Attributes:
        name: stage name (``"prompt"`` or ``"router"``), recorded in history lines.
        budget: API calls on the training set this stage may spend.
        eval_every: dev evaluation of the incumbent every this many stage calls.
        param: the :class:`PromptParam` of every population this stage sends.
        dim: ``D``, the optimizer's search dimension.
        generation: calls of one generation (the smallest budget that makes sense).
        build_optimizer: ``seed -> Optimizer`` over ``D`` dims (not called when the user gives an optimizer).
        decode: ``P x D`` optimizer vectors -> ``P x len(param.layers) x param.d`` backend population.
        extras: ``D`` vector -> named arrays saved beside the best parameters (e.g. ``{"router": ...}``).
    """

    name: str
    budget: int
    eval_every: int
    param: PromptParam
    dim: int
    generation: int
    build_optimizer: Callable[[int], Any]
    decode: Callable[[np.ndarray], np.ndarray]
    extras: Callable[[np.ndarray], dict[str, np.ndarray]] = lambda x: {}


class TuningMethod(ABC):
    """A black-box tuning method: validates against the backend, then yields its stages.

    Lifecycle (driven by the run loop): ``check(info)`` before any work; ``n_tokens`` for dataset registration;
    ``start(train_id)`` -> the untuned starting point; ``stage_budgets()``; for each stage index ``i``:
    ``stage_context(i, selected_extras)`` (plain arrays, persisted for resume) and ``build_stage(i, context)``.
    """

    name: ClassVar[str] = ""
    config_cls: ClassVar[type[MethodConfig]] = MethodConfig

    def __init__(self, config: MethodConfig, *, seed: int) -> None:
        if not isinstance(config, self.config_cls):
            raise ConfigError(
                f"method {self.name!r} needs a {self.config_cls.__name__}, got {type(config).__name__}"
            )
        self.config = config
        self.seed = int(seed)
        self.seeds = derive_seeds(seed)
        self.info: ModelInfo | None = None
        self.train_id: str | None = None

    @abstractmethod
    def check(self, info: ModelInfo) -> None:
        """Validate the config against the served backbone (and any checkpoint) before any work."""

    def attach(self, backend: Any) -> None:
        """Fetch what the method needs from the backend after :meth:`check` (MP2: the checkpoint's modules z).

        Only plain data crosses (``Backend.checkpoint_modules``); the default fetches nothing.
        """
        return None

    @property
    @abstractmethod
    def n_tokens(self) -> int:
        """Prompt length n the datasets must be registered with."""

    @abstractmethod
    def stage_plan(self) -> list[tuple[str, int, int]]:
        """``(stage name, budget, calls of one generation)`` per stage, known before any work."""

    @abstractmethod
    def start(self, train_id: str) -> tuple[PromptParam, np.ndarray, dict[str, np.ndarray]]:
        """The untuned starting point: ``(param, candidate len(layers) x d, extras)``."""

    def stage_context(self, index: int, selected_extras: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """What stage ``index`` starts from, given the extras of the dev-selected parameters so far."""
        return {}

    @abstractmethod
    def build_stage(self, index: int, context: Mapping[str, np.ndarray]) -> Stage:
        """Stage ``index`` (0-based) built from its context."""
