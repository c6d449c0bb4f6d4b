"""Random search: a baseline and a sanity check for the ask/tell plumbing."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from optimizers.base import Optimizer
from optimizers.configs import OptimizerConfig
from optimizers.errors import ConfigError, ResumeError
from optimizers.registry import register_optimizer

__all__ = ["RandomSearch", "RandomSearchConfig"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class RandomSearchConfig(OptimizerConfig):
    """Random search settings.

    Attributes:
        seed: seed of the sampling generator (required).
        popsize: candidates per ask.
        distribution: "uniform" (uniform in [-bounds, bounds]^D) or "gaussian" (x0 + sigma * N(0, I), clipped to
            the box when `bounds` is set).
        bounds: half-width of the box; required for "uniform"; None = unbounded (gaussian only).
        sigma: standard deviation of the gaussian proposals.
        x0: centre of the gaussian proposals, D floats; None = zeros.
    """

    popsize: int = 20  # candidates per ask()
    distribution: str = "uniform"  # "uniform" in the box, or "gaussian" around x0
    bounds: float | None = 5.0  # box [-bounds, bounds]^D
    sigma: float = 1.0  # std of gaussian proposals
    x0: tuple[float, ...] | None = None  # gaussian centre; None = zeros

    def validate(self) -> None:
        super().validate()
        self._check_int("popsize", minimum=1)
        self._check_choice("distribution", ("uniform", "gaussian"))
        self._check_float("bounds", optional=True)
        self._check_float("sigma")
        self._check_vector("x0")
        if self.distribution == "uniform" and self.bounds is None:
            raise ConfigError("RandomSearchConfig.bounds=None is only valid with distribution='gaussian'; "
                              "give a box half-width such as bounds=5.0 for uniform sampling")


@register_optimizer("random")
class RandomSearch(Optimizer):
    """Independent random candidates; `best` is the incumbent.

    Args:
        config: a :class:`RandomSearchConfig`.
        dim: D.
    """

    config_cls = RandomSearchConfig
    config: RandomSearchConfig

    def __init__(self, config: RandomSearchConfig, *, dim: int) -> None:
        super().__init__(config, dim=dim)
        if config.x0 is not None and len(config.x0) != self.dim:
            raise ConfigError(f"RandomSearchConfig.x0 has {len(config.x0)} entries; expected dim={self.dim}")
        self._x0 = np.zeros(self.dim) if config.x0 is None else np.asarray(config.x0, dtype=np.float64)

    def _ask(self) -> np.ndarray:
        c = self.config
        shape = (c.popsize, self.dim)
        if c.distribution == "uniform":
            return self._rng.uniform(-c.bounds, c.bounds, size=shape)
        X = self._x0 + c.sigma * self._rng.standard_normal(shape)
        return X if c.bounds is None else np.clip(X, -c.bounds, c.bounds)

    def _tell(self, X: np.ndarray, losses: np.ndarray) -> None:
        """Nothing to learn: the base class keeps the best."""

    def _state_dict(self) -> dict[str, Any]:
        return {"rng_state": self._rng.bit_generator.state}

    def _load_state_dict(self, state: dict[str, Any]) -> None:
        try:
            self._rng.bit_generator.state = state["rng_state"]
        except (KeyError, TypeError, ValueError) as exc:
            raise ResumeError(f"random-search state has no valid generator state ({exc})") from exc
