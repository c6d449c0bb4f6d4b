"""The optimizers a method asks for, built through the ``optimizers`` registry (numpy in, numpy out).

One function per search the methods run, so the mapping from method settings to optimizer options lives in one
place: CMA-ES (BBT, MP2 shallow stage II), divide-and-conquer CMA-ES over layer blocks (BBTv2, MP2 deep stage II)
and BO-UCB over router logits (MP2 stage I). Each takes ``optimizer``: a method config's ``optimizer`` name, which
swaps the search for that registered optimizer (:func:`named_search`), kept divide and conquer over the same blocks.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

import optimizers

__all__ = ["cma_search", "dc_cma_search", "bo_ucb_search", "named_search"]

logger = logging.getLogger(__name__)


def _start(x0: np.ndarray, bound: float | None) -> tuple[float, ...]:
    """``x0`` as a tuple of floats, clipped into ``[-bound, bound]`` when bounded."""
    x = np.asarray(x0, dtype=np.float64).reshape(-1)
    if bound is not None and np.any(np.abs(x) > bound):
        logger.warning("start point has |x| up to %.3g, outside the box +-%g; clipped", np.abs(x).max(), bound)
        x = np.clip(x, -bound, bound)
    return tuple(float(v) for v in x)


def named_search(
    name: str, *, dim: int, seed: int, x0: np.ndarray, sigma: float | None, popsize: int | None, bound: float | None,
    budget: int | None = None,
) -> optimizers.Optimizer:
    """The optimizer registered as ``name`` in place of a method's own, over ``dim`` coordinates.

    The stage's settings go to the config fields the optimizer has: ``x0`` (``dim`` float64 start), ``sigma0`` or
    ``sigma`` (step size), ``popsize`` (calls per generation), ``bounds`` (box) and ``budget`` (the calls it will
    be told, which e.g. nevergrad's NGOpt needs to pick its algorithm); the others keep its defaults.

    Raises:
        UnknownNameError: ``name`` is not a registered optimizer (the message lists them).
    """
    fields = set(optimizers.get_optimizer_class(name).config_cls.field_names())
    options: dict[str, object] = {}
    if "x0" in fields:
        options["x0"] = _start(x0, bound)
    step = next((key for key in ("sigma0", "sigma") if key in fields), None)
    if step is not None and sigma is not None:
        options[step] = float(sigma)
    if "popsize" in fields and popsize is not None:
        options["popsize"] = int(popsize)
    if "bounds" in fields and bound is not None:
        options["bounds"] = float(bound)
    if "budget" in fields and budget is not None:
        options["budget"] = int(budget)
    logger.info("search by %s over %d dims (%s)", name, dim, sorted(options))
    return optimizers.make_optimizer(name, dim=dim, seed=seed, **options)


def cma_search(
    *, dim: int, seed: int, x0: np.ndarray, sigma: float, popsize: int, bound: float | None,
    optimizer: str | None = None, budget: int | None = None,
) -> optimizers.Optimizer:
    """CMA-ES over ``dim`` coordinates from ``x0`` (``dim`` float64) with step size ``sigma``; or the optimizer
    named ``optimizer`` with the same settings (and the stage's ``budget`` in calls)."""
    if optimizer is not None:
        return named_search(optimizer, dim=dim, seed=seed, x0=x0, sigma=sigma, popsize=popsize, bound=bound,
                            budget=budget)
    return optimizers.make_optimizer(
        "cma", dim=dim, seed=seed, x0=_start(x0, bound), sigma0=float(sigma), popsize=popsize,
        bounds=None if bound is None else float(bound),
    )


def dc_cma_search(
    *, blocks: Sequence[int], seed: int, x0: np.ndarray, sigma_first: float, sigma_rest: float, popsize: int,
    bound: float | None, optimizer: str | None = None, budget: int | None = None,
) -> optimizers.Optimizer:
    """Divide-and-conquer CMA-ES: one CMA-ES per block (layer), one generation per visit, blocks in order.

    Args:
        blocks: block sizes; the search vector is their concatenation (``sum(blocks)`` dims).
        x0: ``sum(blocks)`` float64 starting point.
        sigma_first: CMA-ES step size of block 0 (the embedding layer).
        sigma_rest: CMA-ES step size of the other blocks.
        optimizer: registered name of the per-block optimizer instead of CMA-ES (None = CMA-ES).
        budget: the stage's calls; each block's optimizer is told its share (``ceil(budget / blocks)``).
    """
    if optimizer is not None:
        share = None if budget is None else -(-int(budget) // len(blocks))

        def inner(block: int, dim: int, block_seed: int, block_x0: np.ndarray) -> optimizers.Optimizer:
            return named_search(optimizer, dim=dim, seed=block_seed, x0=block_x0, popsize=popsize, bound=bound,
                                sigma=sigma_first if block == 0 else sigma_rest, budget=share)

        config = optimizers.DivideAndConquerConfig(
            seed=seed, block_sizes=tuple(int(b) for b in blocks), x0=_start(x0, bound), sigma0_first=float(sigma_first),
            sigma0=float(sigma_rest), popsize=popsize, bounds=None if bound is None else float(bound))
        return optimizers.DivideAndConquer(config, dim=int(sum(blocks)), inner_factory=inner)
    return optimizers.make_optimizer(
        "dc-cma", dim=int(sum(blocks)), seed=seed, block_sizes=tuple(int(b) for b in blocks), x0=_start(x0, bound),
        sigma0_first=float(sigma_first), sigma0=float(sigma_rest), popsize=popsize,
        bounds=None if bound is None else float(bound),
    )


def bo_ucb_search(
    *, dim: int, seed: int, bound: float, n_init: int, kappa: float, optimizer: str | None = None,
    budget: int | None = None,
) -> optimizers.Optimizer:
    """BO with a GP and UCB (``kappa``) over the box ``[-bound, bound]^dim``, ``n_init`` random points first; or the
    optimizer named ``optimizer`` from 0 in the same box (``n_init`` calls per generation)."""
    if optimizer is not None:
        return named_search(optimizer, dim=dim, seed=seed, x0=np.zeros(dim), sigma=None, popsize=n_init,
                            bound=bound, budget=budget)
    return optimizers.make_optimizer(
        "bo-ucb", dim=dim, seed=seed, bounds=float(bound), n_init=n_init, kappa=float(kappa)
    )
