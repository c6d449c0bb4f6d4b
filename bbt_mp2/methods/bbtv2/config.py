"""Configuration of BBTv2 (Sun et al., EMNLP 2022): a prompt at every layer, divide-and-conquer CMA-ES."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from bbt_mp2.errors import ConfigError
from bbt_mp2.methods.base import MethodConfig

__all__ = ["BBTv2Config"]


@dataclass(frozen=True)
class BBTv2Config(MethodConfig):
    """BBTv2 hyper-parameters; defaults are the ``reference`` preset (``deepbbt.py`` README example).

    Attributes:
        budget: API calls on the training set; rounds visit layers 0..L-1, one generation (``popsize`` calls)
            each, so a full round costs ``popsize * L`` calls.
        d: intrinsic dimension per layer.
        n_tokens: prompt length n.
        popsize: CMA-ES population size of every layer's CMA-ES.
        sigma: CMA-ES step size of layer 0; the normal projections of every layer divide their scale by it.
        sigma_rest: CMA-ES step size of layers 1..L-1.
        alpha: scale factor of the normal projections (layer l scaled by the std of the hidden states entering
            it on the training set, clipped at 3 sigma five times; layer 0 by the embedding std).
        bound: box ``[-bound, bound]`` of every coordinate; None = unbounded.
        eval_every: dev evaluation of the incumbent every this many calls.
        loss: fitness the backend returns (``auto`` = option CE / span CE).
        checkpoint: id of the served MP2 checkpoint whose MRC head scores the prompts (None = the backend's
            default head); checked against the backbone.
    """

    method: ClassVar[str] = "bbtv2"

    budget: int = 8000
    d: int = 500
    n_tokens: int = 50
    popsize: int = 20
    sigma: float = 0.2
    sigma_rest: float = 0.2
    alpha: float = 0.2
    bound: float | None = None
    eval_every: int = 100
    loss: str = "auto"
    checkpoint: str | None = None

    def __post_init__(self) -> None:
        self._check_common()
        if min(self.sigma, self.sigma_rest, self.alpha) <= 0:
            raise ConfigError(
                f"bbtv2: sigma, sigma_rest and alpha must be > 0, got {self.sigma}, {self.sigma_rest}, {self.alpha}"
            )
        if self.bound is not None and self.bound <= 0:
            raise ConfigError(f"bbtv2: bound must be > 0 or None (unbounded), got {self.bound}")
