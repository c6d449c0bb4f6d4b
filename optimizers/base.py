"""The ask/tell protocol every optimizer follows.

Public methods do the bookkeeping and the checks (shapes, NaN/inf losses, "told what was asked", evaluation
counters, best-so-far) and delegate to the private `_ask/_tell/_stop/_state_dict/_load_state_dict` of a subclass,
so a new optimizer only writes the algorithm.

Example:
    >>> from optimizers import make_optimizer
    >>> opt = make_optimizer("cma", dim=4, seed=0, sigma0=0.5)
    >>> while opt.n_evals < 200 and not opt.stop():
    ...     X = opt.ask()                      # P x 4 float64
    ...     opt.tell(X, (X ** 2).sum(axis=1))  # P losses, lower is better
    >>> x, loss = opt.best
"""

from __future__ import annotations

import logging
import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from optimizers.configs import OptimizerConfig
from optimizers.errors import ConfigError, OptimizerStateError, ResumeError, ShapeError

__all__ = ["Optimizer", "STATE_FORMAT"]

logger = logging.getLogger(__name__)

STATE_FORMAT = 1  # version of the state_dict layout; bump when it changes

_STATE_KEYS = ("format", "optimizer", "dim", "config", "n_evals", "n_generations", "best_x", "best_loss",
               "pending", "state")


class Optimizer(ABC):
    """Abstract ask/tell minimiser over R^D.

    Args:
        config: the optimizer's frozen config (its `seed` seeds `self._rng`, the only randomness source).
        dim: D, the number of coordinates of a candidate.

    Attributes:
        name: registry name (set by :func:`optimizers.register_optimizer`).
        config_cls: the config dataclass the constructor takes.
    """

    name: ClassVar[str] = ""
    config_cls: ClassVar[type[OptimizerConfig]] = OptimizerConfig

    def __init__(self, config: OptimizerConfig, *, dim: int) -> None:
        if not isinstance(config, self.config_cls):
            raise ConfigError(f"{type(self).__name__} takes a {self.config_cls.__name__}; got "
                              f"{type(config).__name__}. Build it with {self.config_cls.__name__}(seed=..., ...)")
        if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or dim < 1:
            raise ConfigError(f"dim must be a positive integer (the number of coordinates); got {dim!r}")
        self.config = config
        self._dim = int(dim)
        self._rng = np.random.default_rng(config.seed)
        self._pending: np.ndarray | None = None
        self._n_evals = 0
        self._n_generations = 0
        self._best_x: np.ndarray | None = None
        self._best_loss = math.inf

    # ------------------------------------------------------------------------------------------- properties
    @property
    def dim(self) -> int:
        """D, the number of coordinates of a candidate."""
        return self._dim

    @property
    def seed(self) -> int:
        """The seed of this optimizer's generator."""
        return self.config.seed

    @property
    def n_evals(self) -> int:
        """Number of candidates told so far (the evaluation counter)."""
        return self._n_evals

    @property
    def n_generations(self) -> int:
        """Number of completed ask/tell rounds."""
        return self._n_generations

    @property
    def pending(self) -> bool:
        """Whether a population was asked and not told yet."""
        return self._pending is not None

    @property
    def best(self) -> tuple[np.ndarray, float]:
        """Best candidate told so far and its loss: (`D` float64 ndarray, float).

        Raises:
            OptimizerStateError: if nothing has been told yet.
        """
        if self._best_x is None:
            raise OptimizerStateError(f"{type(self).__name__}.best is undefined before the first tell(); "
                                      "call ask() and tell() at least once")
        return self._best_x.copy(), float(self._best_loss)

    # --------------------------------------------------------------------------------------------- protocol
    def ask(self) -> np.ndarray:
        """Candidates to evaluate next.

        Asking again before telling returns the same population (so a resumed loop can simply ask again).

        Returns:
            `P x D` float64 ndarray, one candidate per row (a copy; the optimizer keeps its own).
        """
        if self._pending is None:
            X = np.array(self._ask(), dtype=np.float64)
            if X.ndim != 2 or X.shape[0] < 1 or X.shape[1] != self._dim or not np.all(np.isfinite(X)):
                raise ShapeError(f"{type(self).__name__}._ask returned an array of shape {X.shape} (finite: "
                                 f"{bool(np.all(np.isfinite(X)))}); expected P x {self._dim} finite values")
            self._pending = X
        return self._pending.copy()

    def tell(self, X: np.ndarray, losses: np.ndarray) -> None:
        """Report the losses of the last asked population.

        Args:
            X: `P x D` ndarray, exactly the population the last `ask()` returned, in the same order.
            losses: `P` finite losses (lower is better), any float array-like.

        Raises:
            OptimizerStateError: if nothing is pending or `X` is not the asked population.
            ShapeError: if `X` or `losses` has the wrong shape, or a loss is NaN/inf.
        """
        if self._pending is None:
            raise OptimizerStateError(f"tell() without a pending ask() on {type(self).__name__}; "
                                      "call ask(), evaluate its rows, then tell() them")
        X = _as_float_array(X, "X")
        if X.shape != self._pending.shape:
            raise ShapeError(f"X has shape {X.shape}; expected {self._pending.shape} (the population of the "
                             "last ask())")
        if not np.array_equal(X, self._pending):
            rows = np.flatnonzero(np.any(X != self._pending, axis=1)).tolist()
            raise OptimizerStateError(f"X differs from the population of the last ask() in rows {rows[:10]}; "
                                      "tell exactly the asked candidates, unmodified and in the same order")
        losses = _as_float_array(losses, "losses")
        if losses.shape != (X.shape[0],):
            raise ShapeError(f"losses has shape {losses.shape}; expected ({X.shape[0]},), one loss per row of X")
        bad = np.flatnonzero(~np.isfinite(losses)).tolist()
        if bad:
            raise ShapeError(f"losses hold NaN/inf at indices {bad[:10]} ({losses[bad[:3]].tolist()}); replace "
                             "failed evaluations by a large finite loss before telling")
        self._tell(X, losses)
        i = int(np.argmin(losses))
        if losses[i] < self._best_loss:
            self._best_loss, self._best_x = float(losses[i]), X[i].copy()
        self._n_evals += X.shape[0]
        self._n_generations += 1
        self._pending = None
        logger.debug("%s generation %d: min loss %.6g, best %.6g", type(self).__name__, self._n_generations,
                     losses[i], self._best_loss)

    def stop(self) -> dict[str, Any]:
        """Termination reasons; empty means go on. Values are plain JSON types."""
        return dict(self._stop())

    def minimize(self, objective: Callable[[np.ndarray], np.ndarray], *, max_evals: int) -> tuple[np.ndarray, float]:
        """Run ask/tell until `stop()` or until the next population would exceed `max_evals` candidates.

        A population that does not fit the budget stays pending (a later `ask()` returns it).

        Args:
            objective: maps a `P x D` ndarray to `P` losses.
            max_evals: budget in candidates (counting those told before this call).

        Returns:
            `best`: (`D` ndarray, loss).
        """
        while not self.stop():
            X = self.ask()
            if self._n_evals + X.shape[0] > max_evals:
                break
            self.tell(X, objective(X))
        return self.best

    # --------------------------------------------------------------------------------------------- resume
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue exactly, as plain JSON types (`json.dumps` works on it)."""
        return {
            "format": STATE_FORMAT,
            "optimizer": self.name or type(self).__name__,
            "dim": self._dim,
            "config": self.config.to_dict(),
            "n_evals": self._n_evals,
            "n_generations": self._n_generations,
            "best_x": None if self._best_x is None else self._best_x.tolist(),
            "best_loss": None if self._best_x is None else self._best_loss,
            "pending": None if self._pending is None else self._pending.tolist(),
            "state": self._state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from `state_dict()` output; the instance must have the same name, dim and config.

        Raises:
            ResumeError: if the state is malformed or was made by another optimizer, dim or config.
        """
        missing = [k for k in _STATE_KEYS if k not in state]
        if missing:
            raise ResumeError(f"optimizer state lacks keys {missing}; pass the dict returned by state_dict()")
        if state["format"] != STATE_FORMAT:
            raise ResumeError(f"optimizer state has format {state['format']!r}; this version reads {STATE_FORMAT}")
        mine = self.name or type(self).__name__
        if state["optimizer"] != mine or state["dim"] != self._dim:
            raise ResumeError(f"state is for optimizer {state['optimizer']!r} with dim {state['dim']}; this is "
                              f"{mine!r} with dim {self._dim}. Build the same optimizer before loading")
        config = self.config.to_dict()
        diff = sorted(k for k in set(config) | set(state["config"]) if config.get(k) != state["config"].get(k))
        if diff:
            saved = {k: state["config"].get(k) for k in diff}
            here = {k: config.get(k) for k in diff}
            raise ResumeError(f"config differs from the saved one in {diff}: saved {saved}, here {here}; "
                              "build the optimizer with the saved config before loading")
        self._n_evals = int(state["n_evals"])
        self._n_generations = int(state["n_generations"])
        self._best_x = None if state["best_x"] is None else np.asarray(state["best_x"], dtype=np.float64)
        self._best_loss = math.inf if state["best_loss"] is None else float(state["best_loss"])
        self._pending = None if state["pending"] is None else np.asarray(state["pending"], dtype=np.float64)
        self._load_state_dict(state["state"])

    # ------------------------------------------------------------------------------------ subclass hooks
    @abstractmethod
    def _ask(self) -> np.ndarray:
        """Return a fresh `P x D` population (called only when nothing is pending)."""

    @abstractmethod
    def _tell(self, X: np.ndarray, losses: np.ndarray) -> None:
        """Update on the checked `P x D` population and its `P` finite losses."""

    def _stop(self) -> dict[str, Any]:
        return {}

    @abstractmethod
    def _state_dict(self) -> dict[str, Any]:
        """Algorithm state as plain JSON types."""

    @abstractmethod
    def _load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore `_state_dict()` output; `self._pending` is already restored (None or the asked population)."""


def _as_float_array(value: Any, name: str) -> np.ndarray:
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ShapeError(f"{name} must be a numeric array; got {type(value).__name__} ({exc})") from exc
