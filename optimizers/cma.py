"""CMA-ES through pycma, seeded by our own generator and resumable from a JSON state.

pycma draws its normal samples through the `randn` option; we bind it to this optimizer's
`np.random.Generator`, so pycma never touches numpy's global RNG and never seeds from the clock.
Resume replays the told generations: pycma is deterministic given its samples and the told losses, so the
state is just the per-generation losses (plain JSON, small at any dimension), and loading re-runs ask/tell
on a fresh pycma instance and checks that the generator state and the mean came out identical.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import cma as pycma
import numpy as np

from optimizers.base import Optimizer
from optimizers.configs import OptimizerConfig
from optimizers.errors import ConfigError, ResumeError
from optimizers.registry import register_optimizer

__all__ = ["CMA", "CMAConfig"]

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, kw_only=True)
class CMAConfig(OptimizerConfig):
    """CMA-ES settings (defaults = the `reference` preset: MP2's released shallow stage II).

    Attributes:
        seed: seed of the generator that draws every pycma sample (required).
        sigma0: initial step size, the same for every coordinate.
        popsize: lambda, candidates per `ask()` (>= 2).
        bounds: box [-bounds, bounds]^D enforced by pycma's BoundTransform (asked points lie inside); None = no box.
        x0: initial mean, D floats; None = the origin.
    """

    sigma0: float = 0.1  # initial step size
    popsize: int = 20  # lambda: candidates per ask()
    bounds: float | None = None  # box [-bounds, bounds]^D; None = unbounded
    x0: tuple[float, ...] | None = None  # initial mean; None = zeros

    def validate(self) -> None:
        super().validate()
        self._check_float("sigma0")
        self._check_int("popsize", minimum=2)
        self._check_float("bounds", optional=True)
        self._check_vector("x0")
        if self.bounds is not None and self.x0 is not None and max(abs(v) for v in self.x0) > self.bounds:
            raise ConfigError(f"CMAConfig.x0 lies outside the box [-{self.bounds}, {self.bounds}] "
                              f"(max |x0_i| = {max(abs(v) for v in self.x0)}); clip x0 or widen `bounds`")


class _GeneratorRandn:
    """pycma's `randn(n, dim)` drawn from a `np.random.Generator` (standard normal, float64)."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng

    def __call__(self, *shape: int) -> np.ndarray:
        return self.rng.standard_normal(shape)


@register_optimizer("cma")
class CMA(Optimizer):
    """CMA-ES (pycma `CMAEvolutionStrategy`), full covariance, one population of `popsize` per ask.

    Args:
        config: a :class:`CMAConfig`.
        dim: D; `config.x0` must have D entries when given.

    Example:
        >>> opt = CMA(CMAConfig(seed=0, sigma0=0.5), dim=10)
        >>> X = opt.ask()            # 20 x 10
        >>> opt.tell(X, (X ** 2).sum(1))
    """

    config_cls = CMAConfig
    config: CMAConfig

    def __init__(self, config: CMAConfig, *, dim: int) -> None:
        super().__init__(config, dim=dim)
        if config.x0 is not None and len(config.x0) != self.dim:
            raise ConfigError(f"CMAConfig.x0 has {len(config.x0)} entries; expected dim={self.dim}")
        self._losses: list[list[float]] = []  # told losses per generation: the resume record
        self._es = self._new_strategy()

    @property
    def mean(self) -> np.ndarray:
        """Current mean of the search distribution, `D` float64."""
        return np.array(self._es.mean, dtype=np.float64)

    @property
    def sigma(self) -> float:
        """Current overall step size."""
        return float(self._es.sigma)

    def _new_strategy(self) -> pycma.CMAEvolutionStrategy:
        c = self.config
        self._rng = np.random.default_rng(c.seed)
        x0 = np.zeros(self.dim) if c.x0 is None else np.asarray(c.x0, dtype=np.float64)
        options = {
            "popsize": c.popsize,
            "seed": float("nan"),  # pycma must not seed or read numpy's global RNG: samples come from `randn`
            "randn": _GeneratorRandn(self._rng),
            "bounds": [None, None] if c.bounds is None else [-c.bounds, c.bounds],
            "verbose": -9,
            "verb_log": 0,
            "verb_disp": 0,
        }
        return pycma.CMAEvolutionStrategy(x0, c.sigma0, options)

    def _ask(self) -> np.ndarray:
        return np.asarray(self._es.ask(), dtype=np.float64)

    def _tell(self, X: np.ndarray, losses: np.ndarray) -> None:
        self._es.tell(list(X), losses.tolist())
        self._losses.append(losses.tolist())

    def _stop(self) -> dict[str, Any]:
        if not self._losses:
            return {}
        return {str(k): _plain(v) for k, v in self._es.stop().items()}

    def _state_dict(self) -> dict[str, Any]:
        return {
            "losses": [list(g) for g in self._losses],
            "rng_state": _plain(self._rng.bit_generator.state),
            "mean": self.mean.tolist(),
            "cma_version": pycma.__version__,
        }

    def _load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("cma_version") != pycma.__version__:
            raise ResumeError(f"CMA state was saved with cma {state.get('cma_version')!r}; installed is "
                              f"{pycma.__version__}. Resume with the pycma version that wrote it")
        self._es = self._new_strategy()
        self._losses = []
        for i, losses in enumerate(state["losses"]):
            X = np.asarray(self._es.ask(), dtype=np.float64)
            if len(losses) != X.shape[0]:
                raise ResumeError(f"saved generation {i} has {len(losses)} losses; popsize is {X.shape[0]}")
            self._tell(X, np.asarray(losses, dtype=np.float64))
        if self._pending is not None:
            X = np.asarray(self._es.ask(), dtype=np.float64)
            if not np.array_equal(X, self._pending):
                raise ResumeError("replaying the saved CMA generations did not reproduce the pending population; "
                                  "the state was written by another numpy/pycma build")
        if _plain(self._rng.bit_generator.state) != state["rng_state"] or self.mean.tolist() != state["mean"]:
            raise ResumeError(f"replaying {len(self._losses)} CMA generations did not reproduce the saved "
                              "generator state and mean; the state was written by another numpy/pycma build")


def _plain(value: Any) -> Any:
    """Numpy scalars/arrays (nested in dicts/lists) to plain JSON types."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value
