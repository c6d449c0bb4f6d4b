"""Configuration of BBT (Sun et al., ICML 2022): one prompt at layer 0 through a fixed random projection."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from bbt_mp2.backend import PROJECTION_KINDS
from bbt_mp2.errors import ConfigError
from bbt_mp2.methods.base import MethodConfig

__all__ = ["BBTConfig"]


@dataclass(frozen=True)
class BBTConfig(MethodConfig):
    """BBT hyper-parameters; defaults are the ``reference`` preset (txsun1997/Black-Box-Tuning ``bbt.py`` HEAD).

    Attributes:
        budget: API calls on the training set (one candidate = one call).
        d: intrinsic dimension of z.
        n_tokens: prompt length n (placeholder positions 1..n).
        popsize: CMA-ES population size (calls per generation).
        sigma: CMA-ES step size sigma0; the normal projection also divides its scale by it.
        alpha: scale factor of the normal projection.
        bound: CMA-ES box ``[-bound, bound]^d``; None = unbounded.
        projection: ``normal`` (scaled by the embedding std) or ``uniform`` (U(+-1/sqrt(d)), ICML-era BBT).
        eval_every: dev evaluation of the incumbent every this many calls.
        loss: loss the backend returns as fitness (``auto`` = option CE for option tasks, span CE for span tasks).
        checkpoint: id of the served MP2 checkpoint whose MRC head scores the prompts (None = the backend's
            default head); checked against the backbone.
    """

    method: ClassVar[str] = "bbt"

    budget: int = 8000
    d: int = 500
    n_tokens: int = 50
    popsize: int = 20
    sigma: float = 1.0
    alpha: float = 1.0
    bound: float | None = None
    projection: str = "normal"
    eval_every: int = 100
    loss: str = "auto"
    checkpoint: str | None = None

    def __post_init__(self) -> None:
        self._check_common()
        if self.projection not in ("normal", "uniform"):
            raise ConfigError(
                f"bbt: projection {self.projection!r} is not a random projection; choose 'normal' or 'uniform' "
                f"(of {PROJECTION_KINDS}; 'learned' is MP2's)"
            )
        if self.sigma <= 0 or self.alpha <= 0:
            raise ConfigError(f"bbt: sigma and alpha must be > 0, got sigma={self.sigma}, alpha={self.alpha}")
        if self.bound is not None and self.bound <= 0:
            raise ConfigError(f"bbt: bound must be > 0 or None (unbounded), got {self.bound}")
