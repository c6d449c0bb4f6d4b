"""Configurations of MP2 black-box tuning (Sun et al., ACL 2023): two-stage shallow/deep, and router-only."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from bbt_mp2.errors import ConfigError
from bbt_mp2.methods.base import CMAStageConfig, MethodConfig

__all__ = ["ROUTINGS", "RouterSearchConfig", "MP2ShallowConfig", "MP2DeepConfig", "MP2RouterConfig"]

ROUTINGS = ("sigmoid", "binary")


@dataclass(frozen=True, kw_only=True)
class RouterSearchConfig(MethodConfig):
    """Fields of the BO-UCB search over router logits (MP2 stage I, router-only MP2).

    ``checkpoint`` (a served MP2 checkpoint id: z, A, head) is required by every MP2 method; ``head`` must stay
    ``mrc`` (MP2 is MRC-only); ``scoring`` applies.

    Attributes:
        n_init: random initial points of BO-UCB (asked as one population).
        kappa: UCB exploration weight (mu + kappa * sigma).
        router_bound: router logits live in ``[-router_bound, router_bound]``.
        routing: ``sigmoid`` (w = sigmoid(r), reference code) or ``binary`` (w = 1[r > 0], paper); the weights
            of a layer are normalised to sum 1.
    """

    n_init: int = 20  # random initial points of BO
    kappa: float = 2.0  # UCB exploration weight
    router_bound: float = 5.0  # logits in [-router_bound, router_bound]
    routing: str = "sigmoid"  # sigmoid (reference code) | binary (paper)

    def validate(self) -> None:
        super().validate()
        if self.head != "mrc":
            raise ConfigError(
                f"{self.method} is MRC-only: its modules, router and span head were pre-trained in the MRC format, so "
                f"head={self.head!r} does not apply; head=mlm (the backbone's MLM head) is for bbt and bbtv2"
            )
        self._check_choice("routing", ROUTINGS)
        self._check_float("router_bound")
        self._check_float("kappa", positive=False, minimum=0.0)
        self._check_int("n_init", minimum=1)


@dataclass(frozen=True, kw_only=True)
class _TwoStageConfig(RouterSearchConfig, CMAStageConfig):
    """Fields of two-stage MP2 (see the subclasses for defaults): :class:`RouterSearchConfig` for stage I,
    :class:`CMAStageConfig` for stage II (``sigma`` is the step size of layer 0 when deep; ``eval_every`` counts
    stage-II calls; ``budget`` is stage I + stage II), plus:

    Attributes:
        budget_router: stage I calls (BO-UCB over router logits); 0 skips stage I (stage II starts from the
            uniform mixture of the modules).
        eval_every_router: dev evaluation of the incumbent every this many stage-I calls.
        sigma_rest: stage-II CMA-ES step size of the layers above 0 (deep only).
    """

    budget_router: int = 200  # stage I calls
    eval_every_router: int = 10  # dev evaluation every this many stage-I calls
    sigma: float = 0.1  # stage-II step size (layer 0)
    sigma_rest: float = 0.1  # stage-II step size of layers above 0

    def validate(self) -> None:
        super().validate()
        self._check_int("eval_every_router", minimum=1)
        self._check_float("sigma_rest")
        if isinstance(self.budget_router, bool) or not isinstance(self.budget_router, int) or not (
            0 <= self.budget_router < self.budget
        ):
            raise ConfigError(
                f"{self.method}: budget_router must be in [0, budget={self.budget}) so stage II gets calls, "
                f"got {self.budget_router}"
            )


@dataclass(frozen=True, kw_only=True)
class MP2ShallowConfig(_TwoStageConfig):
    """Shallow MP2 (layer 0 only); defaults = the reference code ``Shallow/bbt.py``: 200 BO + 7,800 CMA-ES calls,
    sigma 0.1, unbounded."""

    method: ClassVar[str] = "mp2-shallow"


@dataclass(frozen=True, kw_only=True)
class MP2DeepConfig(_TwoStageConfig):
    """Deep MP2 (every prompted layer of the checkpoint); defaults = the reference code ``Deep/deepbbt.py``:
    100 BO + 2,880 CMA-ES calls, sigma 0.5 for layer 0 and 0.1 above, bounds +-5."""

    method: ClassVar[str] = "mp2-deep"

    budget: int = 2980  # 100 BO + 2,880 CMA-ES calls
    budget_router: int = 100  # stage I calls
    sigma: float = 0.5  # layer 0
    bound: float | None = 5.0  # box +-5


@dataclass(frozen=True, kw_only=True)
class MP2RouterConfig(RouterSearchConfig):
    """Router-only MP2: stage I alone (BO-UCB over router logits), the modules and A frozen.

    Attributes:
        deep: True = one router per prompted layer of the checkpoint (``K x L`` logits); False = layer 0 only;
            None = deep when the checkpoint prompts several layers (a shallow router on a deep checkpoint drops the
            modules of every layer but 0, which its head was not trained for).
    """

    method: ClassVar[str] = "mp2-router"

    budget: int = 200  # API calls
    eval_every: int = 10  # dev evaluation every this many calls
    deep: bool | None = None  # one router per prompted layer; None = as the checkpoint

    def validate(self) -> None:
        super().validate()
        if self.deep is not None and not isinstance(self.deep, bool):
            self._fail("deep", "True, False or None", "Pass deep=true/false/none.")
