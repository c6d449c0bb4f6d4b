"""Configurations of MP2 black-box tuning (Sun et al., ACL 2023): two-stage shallow/deep, and router-only."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from bbt_mp2.errors import ConfigError
from bbt_mp2.methods.base import MethodConfig

__all__ = ["ROUTINGS", "MP2ShallowConfig", "MP2DeepConfig", "MP2RouterConfig"]

ROUTINGS = ("sigmoid", "binary")


def _check_router_fields(cfg: MethodConfig) -> None:
    name = cfg.method
    if cfg.routing not in ROUTINGS:
        raise ConfigError(f"{name}: routing {cfg.routing!r} is unknown; choose one of {ROUTINGS}")
    if cfg.router_bound <= 0 or cfg.kappa < 0:
        raise ConfigError(f"{name}: router_bound must be > 0 and kappa >= 0, got {cfg.router_bound}, {cfg.kappa}")
    if not isinstance(cfg.n_init, int) or cfg.n_init <= 0:
        raise ConfigError(f"{name}: n_init (random initial points of BO) must be a positive integer, got {cfg.n_init}")


@dataclass(frozen=True)
class _TwoStageConfig(MethodConfig):
    """Fields of two-stage MP2 (see the subclasses for defaults).

    Attributes:
        checkpoint: id of the served MP2 checkpoint (z, A, head); required.
        budget: total API calls on the training set, stage I + stage II.
        budget_router: stage I calls (BO-UCB over router logits); 0 skips stage I (stage II starts from the
            uniform mixture of the modules).
        eval_every_router: dev evaluation of the incumbent every this many stage-I calls.
        eval_every: dev evaluation of the incumbent every this many stage-II calls.
        n_init: random initial points of BO-UCB.
        kappa: UCB exploration weight (mu + kappa * sigma).
        router_bound: router logits live in ``[-router_bound, router_bound]``.
        routing: ``sigmoid`` (w = sigmoid(r), reference code) or ``binary`` (w = 1[r > 0], paper); the weights
            of a layer are normalised to sum 1.
        popsize: CMA-ES population size in stage II.
        sigma: stage-II CMA-ES step size (of layer 0 when deep).
        sigma_rest: stage-II CMA-ES step size of the layers above 0 (deep only).
        bound: stage-II box ``[-bound, bound]`` of every coordinate of z; None = unbounded.
        loss: fitness the backend returns (``auto`` = option CE / span CE).
    """

    checkpoint: str | None = None
    budget: int = 8000
    budget_router: int = 200
    eval_every_router: int = 10
    eval_every: int = 100
    n_init: int = 20
    kappa: float = 2.0
    router_bound: float = 5.0
    routing: str = "sigmoid"
    popsize: int = 20
    sigma: float = 0.1
    sigma_rest: float = 0.1
    bound: float | None = None
    loss: str = "auto"

    def __post_init__(self) -> None:
        self._check_common()
        _check_router_fields(self)
        if not isinstance(self.budget_router, int) or not 0 <= self.budget_router < self.budget:
            raise ConfigError(
                f"{self.method}: budget_router must be in [0, budget={self.budget}) so stage II gets calls, "
                f"got {self.budget_router}"
            )
        if min(self.sigma, self.sigma_rest) <= 0:
            raise ConfigError(f"{self.method}: sigma and sigma_rest must be > 0, got {self.sigma}, {self.sigma_rest}")
        if self.bound is not None and self.bound <= 0:
            raise ConfigError(f"{self.method}: bound must be > 0 or None (unbounded), got {self.bound}")


@dataclass(frozen=True)
class MP2ShallowConfig(_TwoStageConfig):
    """Shallow MP2 (layer 0 only); defaults = the reference code ``Shallow/bbt.py``: 200 BO + 7,800 CMA-ES calls,
    sigma 0.1, unbounded. Fields as in :class:`_TwoStageConfig`."""

    method: ClassVar[str] = "mp2-shallow"

    budget: int = 8000
    budget_router: int = 200
    sigma: float = 0.1
    sigma_rest: float = 0.1
    bound: float | None = None


@dataclass(frozen=True)
class MP2DeepConfig(_TwoStageConfig):
    """Deep MP2 (every prompted layer of the checkpoint); defaults = the reference code ``Deep/deepbbt.py``:
    100 BO + 2,880 CMA-ES calls, sigma 0.5 for layer 0 and 0.1 above, bounds +-5."""

    method: ClassVar[str] = "mp2-deep"

    budget: int = 2980
    budget_router: int = 100
    sigma: float = 0.5
    sigma_rest: float = 0.1
    bound: float | None = 5.0


@dataclass(frozen=True)
class MP2RouterConfig(MethodConfig):
    """Router-only MP2: stage I alone (BO-UCB over router logits), the modules and A frozen.

    Attributes:
        checkpoint: id of the served MP2 checkpoint; required.
        budget: API calls on the training set.
        deep: True = one router per prompted layer of the checkpoint (``K x L`` logits); False = layer 0 only;
            None = deep when the checkpoint prompts several layers (a shallow router on a deep checkpoint drops the
            modules of every layer but 0, which its head was not trained for).
        eval_every: dev evaluation of the incumbent every this many calls.
        n_init, kappa, router_bound, routing, loss: as in two-stage MP2.
    """

    method: ClassVar[str] = "mp2-router"

    checkpoint: str | None = None
    budget: int = 200
    deep: bool | None = None
    eval_every: int = 10
    n_init: int = 20
    kappa: float = 2.0
    router_bound: float = 5.0
    routing: str = "sigmoid"
    loss: str = "auto"

    def __post_init__(self) -> None:
        self._check_common()
        _check_router_fields(self)
