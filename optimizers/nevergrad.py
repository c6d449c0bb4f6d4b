"""Any nevergrad optimizer behind the ask/tell protocol: registry names ``ng:<Name>`` (``ng:NGOpt``, ``ng:TBPSA``).

Seeding: the nevergrad parametrization draws from ``np.random.RandomState(seed)``, so a seed gives the same
populations on every run. Resume is exact and pickle-free: the state is the told losses of every generation
(plain JSON); loading rebuilds the optimizer from the seed, replays ask/tell with the saved losses, and checks a
running sha256 of every asked population against the saved one (nevergrad's own dump is a pickle, which run state
never is).

Example:
    >>> from optimizers import make_optimizer
    >>> opt = make_optimizer("ng:TBPSA", dim=4, seed=0, popsize=8)
    >>> X = opt.ask()                       # 8 x 4 float64
    >>> opt.tell(X, (X ** 2).sum(axis=1))
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from typing import Any, ClassVar

import nevergrad as ng
import numpy as np

from optimizers.base import Optimizer
from optimizers.configs import OptimizerConfig
from optimizers.errors import ConfigError, OptimizerError, ResumeError, UnknownNameError

__all__ = ["NevergradConfig", "NevergradOptimizer", "nevergrad_class", "PREFIX"]

logger = logging.getLogger(__name__)

PREFIX = "ng:"
_CLASSES: dict[str, type[NevergradOptimizer]] = {}


@dataclasses.dataclass(frozen=True, kw_only=True)
class NevergradConfig(OptimizerConfig):
    """Settings of a nevergrad optimizer over ``R^D`` (an ``ng.p.Array``).

    Attributes:
        seed: seed of the parametrization's ``RandomState`` (every draw of the optimizer).
        popsize: candidates per ``ask()`` (nevergrad's ``num_workers``: asked together, told together).
        sigma0: initial mutation scale of the array; None = nevergrad's default (1.0).
        bounds: box ``[-bounds, bounds]^D``; None = unbounded.
        x0: initial point, D floats; None = the origin.
        budget: the total evaluations nevergrad is told to expect (``NGOpt`` picks its algorithm from it and
            needs it); None = unknown.
    """

    popsize: int = 20  # candidates per ask()
    sigma0: float | None = None  # initial mutation scale; None = nevergrad's default
    bounds: float | None = None  # box [-bounds, bounds]^D; None = unbounded
    x0: tuple[float, ...] | None = None  # initial point; None = zeros
    budget: int | None = None  # evaluations nevergrad plans for; None = unknown

    def validate(self) -> None:
        super().validate()
        self._check_int("popsize", minimum=1)
        self._check_float("sigma0", optional=True)
        self._check_float("bounds", optional=True)
        self._check_vector("x0")
        self._check_int("budget", minimum=1, optional=True)
        if self.bounds is not None and self.x0 is not None and max(abs(v) for v in self.x0) > self.bounds:
            self._fail("x0", f"inside the box [-{self.bounds}, {self.bounds}]", "Clip x0 or widen `bounds`.")


class NevergradOptimizer(Optimizer):
    """Adapter of the nevergrad optimizer :attr:`ng_name`; use :func:`nevergrad_class` (or ``make_optimizer``).

    Args:
        config: a :class:`NevergradConfig`.
        dim: D; ``config.x0`` must have D entries when given.
    """

    config_cls = NevergradConfig
    config: NevergradConfig
    ng_name: ClassVar[str] = ""

    def __init__(self, config: NevergradConfig, *, dim: int) -> None:
        super().__init__(config, dim=dim)
        if not self.ng_name:
            raise ConfigError("NevergradOptimizer is abstract; build it by name, e.g. make_optimizer('ng:NGOpt', ...)")
        if config.x0 is not None and len(config.x0) != self.dim:
            raise ConfigError(f"NevergradConfig.x0 has {len(config.x0)} entries; expected dim={self.dim}")
        self._losses: list[list[float]] = []  # told losses per generation: the resume record
        self._digest = hashlib.sha256()  # running hash of every asked population
        self._candidates: list[Any] = []
        self._ng = self._new_optimizer()

    def _new_optimizer(self) -> Any:
        c = self.config
        x0 = np.zeros(self.dim) if c.x0 is None else np.asarray(c.x0, dtype=np.float64)
        param = ng.p.Array(init=x0)
        if c.sigma0 is not None:
            param.set_mutation(sigma=c.sigma0)
        if c.bounds is not None:
            param.set_bounds(-c.bounds, c.bounds)
        param.random_state = np.random.RandomState(c.seed)
        self._digest = hashlib.sha256()
        return ng.optimizers.registry[self.ng_name](parametrization=param, budget=c.budget, num_workers=c.popsize)

    def _ask(self) -> np.ndarray:
        try:
            self._candidates = [self._ng.ask() for _ in range(self.config.popsize)]
        except Exception as exc:  # noqa: BLE001 - a failure inside nevergrad, reported with what to change
            raise OptimizerError(
                f"nevergrad optimizer {self.ng_name!r} ({self._selected()}) failed in ask() after {self.n_evals} "
                f"evaluations: {type(exc).__name__}: {str(exc)[:200]}. Some nevergrad 1.0 algorithms break on "
                "numpy 2 (e.g. NGOpt's MetaModel at small dim and budget) or need a budget (NGOpt); set `budget`, "
                "change `popsize`, or pick another name such as 'ng:DiagonalCMA' or 'ng:TBPSA'"
            ) from exc
        X = np.array([np.asarray(cand.value, dtype=np.float64).reshape(-1) for cand in self._candidates])
        self._digest.update(X.tobytes())
        return X

    def _tell(self, X: np.ndarray, losses: np.ndarray) -> None:
        try:
            for cand, loss in zip(self._candidates, losses.tolist()):
                self._ng.tell(cand, loss)
        except Exception as exc:  # noqa: BLE001 - as in _ask
            raise OptimizerError(f"nevergrad optimizer {self.ng_name!r} ({self._selected()}) failed in tell() after "
                                 f"{self.n_evals} evaluations: {type(exc).__name__}: {str(exc)[:200]}; pick another "
                                 "name such as 'ng:DiagonalCMA' or 'ng:TBPSA'") from exc
        self._candidates = []
        self._losses.append(losses.tolist())

    def _selected(self) -> str:
        """The algorithm a meta-optimizer (NGOpt) chose, for messages."""
        inner = getattr(self._ng, "optim", None)
        return f"running {type(inner).__name__}" if inner is not None else type(self._ng).__name__

    def _state_dict(self) -> dict[str, Any]:
        return {"losses": [list(g) for g in self._losses], "asked_sha256": self._digest.hexdigest(),
                "nevergrad_version": ng.__version__}

    def _load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("nevergrad_version") != ng.__version__:
            raise ResumeError(f"{self.name} state was saved with nevergrad {state.get('nevergrad_version')!r}; "
                              f"installed is {ng.__version__}. Resume with the nevergrad version that wrote it")
        pending = self._pending
        self._ng, self._losses = self._new_optimizer(), []
        for i, losses in enumerate(state["losses"]):
            X = self._ask()
            if len(losses) != X.shape[0]:
                raise ResumeError(f"saved generation {i} has {len(losses)} losses; popsize is {X.shape[0]}")
            self._tell(X, np.asarray(losses, dtype=np.float64))
        if pending is not None:
            X = self._ask()
            if not np.array_equal(X, pending):
                raise ResumeError(f"replaying the saved {self.name} generations did not reproduce the pending "
                                  "population; the state was written by another numpy/nevergrad build")
        if self._digest.hexdigest() != state["asked_sha256"]:
            raise ResumeError(f"replaying {len(self._losses)} {self.name} generations did not reproduce the asked "
                              "populations; the state was written by another numpy/nevergrad build")


def nevergrad_class(name: str) -> type[NevergradOptimizer]:
    """The adapter class of the nevergrad optimizer ``name`` (``"NGOpt"`` or ``"ng:NGOpt"``), registry name
    ``ng:<name>``.

    Raises:
        UnknownNameError: nevergrad has no optimizer of that name (similar names are listed).
    """
    ng_name = name[len(PREFIX):] if name.startswith(PREFIX) else name
    if ng_name not in _CLASSES:
        if ng_name not in ng.optimizers.registry:
            close = sorted(n for n in ng.optimizers.registry if ng_name.lower()[:4] in n.lower())[:12]
            raise UnknownNameError(
                f"nevergrad has no optimizer {ng_name!r} (nevergrad {ng.__version__}); similar names: {close}; "
                "all names: sorted(nevergrad.optimizers.registry)"
            )
        cls = type(f"Nevergrad{ng_name}", (NevergradOptimizer,), {"ng_name": ng_name, "name": PREFIX + ng_name,
                                                                   "__module__": __name__})
        _CLASSES[ng_name] = cls
    return _CLASSES[ng_name]
