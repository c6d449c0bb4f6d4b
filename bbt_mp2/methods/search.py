"""The optimizers a method asks for, built through the ``optimizers`` registry (numpy in, numpy out).

One function per search the methods run, so the mapping from method settings to optimizer options lives in one
place: CMA-ES (BBT, MP2 shallow stage II), divide-and-conquer CMA-ES over layer blocks (BBTv2, MP2 deep stage II)
and BO-UCB over router logits (MP2 stage I).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

import optimizers

__all__ = ["cma_search", "dc_cma_search", "bo_ucb_search"]

logger = logging.getLogger(__name__)


def _start(x0: np.ndarray, bound: float | None) -> tuple[float, ...]:
    """``x0`` as a tuple of floats, clipped into ``[-bound, bound]`` when bounded."""
    x = np.asarray(x0, dtype=np.float64).reshape(-1)
    if bound is not None and np.any(np.abs(x) > bound):
        logger.warning("start point has |x| up to %.3g, outside the box +-%g; clipped", np.abs(x).max(), bound)
        x = np.clip(x, -bound, bound)
    return tuple(float(v) for v in x)


def cma_search(
    *, dim: int, seed: int, x0: np.ndarray, sigma: float, popsize: int, bound: float | None
) -> optimizers.Optimizer:
    """CMA-ES over ``dim`` coordinates from ``x0`` (``dim`` float64) with step size ``sigma``."""
    return optimizers.make_optimizer(
        "cma", dim=dim, seed=seed, x0=_start(x0, bound), sigma0=float(sigma), popsize=popsize,
        bounds=None if bound is None else float(bound),
    )


def dc_cma_search(
    *, blocks: Sequence[int], seed: int, x0: np.ndarray, sigma_first: float, sigma_rest: float, popsize: int,
    bound: float | None,
) -> optimizers.Optimizer:
    """Divide-and-conquer CMA-ES: one CMA-ES per block (layer), one generation per visit, blocks in order.

    Args:
        blocks: block sizes; the search vector is their concatenation (``sum(blocks)`` dims).
        x0: ``sum(blocks)`` float64 starting point.
        sigma_first: CMA-ES step size of block 0 (the embedding layer).
        sigma_rest: CMA-ES step size of the other blocks.
    """
    return optimizers.make_optimizer(
        "dc-cma", dim=int(sum(blocks)), seed=seed, block_sizes=tuple(int(b) for b in blocks), x0=_start(x0, bound),
        sigma0_first=float(sigma_first), sigma0=float(sigma_rest), popsize=popsize,
        bounds=None if bound is None else float(bound),
    )


def bo_ucb_search(*, dim: int, seed: int, bound: float, n_init: int, kappa: float) -> optimizers.Optimizer:
    """BO with a GP and UCB (``kappa``) over the box ``[-bound, bound]^dim``, ``n_init`` random points first."""
    return optimizers.make_optimizer(
        "bo-ucb", dim=dim, seed=seed, bounds=float(bound), n_init=n_init, kappa=float(kappa)
    )
