"""Tests of optimizers/dc.py: block visiting order, incumbents, per-block settings, custom inner optimizers."""

from __future__ import annotations

import json

import numpy as np
import pytest

from optimizers import (
    CMA,
    DivideAndConquer,
    DivideAndConquerCMA,
    DivideAndConquerConfig,
    RandomSearch,
    RandomSearchConfig,
    make_optimizer,
)
from optimizers.errors import ConfigError, ResumeError


def _quadratic(X: np.ndarray) -> np.ndarray:
    return ((X - 1.0) ** 2).sum(1)


def test_rounds_visit_blocks_in_order_and_only_the_current_block_varies():
    x0 = tuple(np.linspace(-0.5, 0.5, 7))
    opt = DivideAndConquer(DivideAndConquerConfig(seed=0, block_sizes=(2, 3, 2), x0=x0, popsize=6), dim=7)
    visited = []
    for _ in range(7):
        block = opt.current_block
        visited.append(block)
        incumbent = opt.incumbent
        X = opt.ask()
        sl = opt.block_slices[block]
        others = np.ones(7, dtype=bool)
        others[sl] = False
        assert np.array_equal(X[:, others], np.tile(incumbent[others], (6, 1)))
        assert np.all(X[:, sl].std(axis=0) > 0)
        opt.tell(X, _quadratic(X))
        inner_best = opt.block_optimizers[block].best[0]
        assert np.array_equal(opt.incumbent[sl], inner_best)  # incumbent = best-ever of that block
        assert np.array_equal(opt.incumbent[others], incumbent[others])
    assert visited == [0, 1, 2, 0, 1, 2, 0]
    assert opt.n_rounds == 2


def test_first_block_uses_its_own_step_size():
    opt = make_optimizer("dc-cma", dim=6, seed=0, block_sizes=[3, 3], sigma0_first=2.0, sigma0=0.01)
    sigmas = [inner.sigma for inner in opt.block_optimizers]
    assert sigmas == [2.0, 0.01]
    assert all(isinstance(inner, CMA) for inner in opt.block_optimizers)
    assert DivideAndConquerCMA is DivideAndConquer


def test_blocks_get_distinct_child_seeds():
    opt = make_optimizer("dc-cma", dim=4, seed=0, n_blocks=2)
    seeds = [inner.seed for inner in opt.block_optimizers]
    assert len(set(seeds)) == 2 and 0 not in seeds


def test_bounds_apply_to_the_varied_block():
    opt = make_optimizer("dc-cma", dim=4, seed=0, n_blocks=2, sigma0_first=50.0, sigma0=50.0, bounds=2.0)
    for _ in range(4):
        X = opt.ask()
        assert np.abs(X).max() <= 2.0
        opt.tell(X, _quadratic(X))


def test_custom_inner_factory_and_its_resume():
    def factory(block, dim, seed, x0):
        return RandomSearch(RandomSearchConfig(seed=seed, popsize=3 + block, bounds=1.0), dim=dim)

    cfg = DivideAndConquerConfig(seed=1, block_sizes=(2, 2))
    opt = DivideAndConquer(cfg, dim=4, inner_factory=factory)
    sizes = []
    for _ in range(3):
        X = opt.ask()
        sizes.append(X.shape[0])
        opt.tell(X, _quadratic(X))
    assert sizes == [3, 4, 3]
    state = json.loads(json.dumps(opt.state_dict()))
    nxt = opt.ask()
    again = DivideAndConquer(cfg, dim=4, inner_factory=factory)
    again.load_state_dict(state)
    assert again.current_block == 1 and np.array_equal(again.ask(), nxt)


def test_a_factory_returning_the_wrong_dimension_is_refused():
    def factory(block, dim, seed, x0):
        return RandomSearch(RandomSearchConfig(seed=seed), dim=dim + 1)

    with pytest.raises(ConfigError, match="expected an Optimizer with dim=2"):
        DivideAndConquer(DivideAndConquerConfig(seed=0, n_blocks=2), dim=4, inner_factory=factory)


def test_stopped_blocks_are_skipped_and_all_stopped_stops():
    opt = make_optimizer("dc-cma", dim=4, seed=0, n_blocks=2, popsize=4, sigma0_first=1.0, sigma0=1.0)
    for _ in range(3000):
        if opt.stop():
            break
        X = opt.ask()
        opt.tell(X, np.zeros(X.shape[0]))  # flat fitness: pycma stops each block quickly
    reasons = opt.stop()
    assert set(reasons) == {"all_blocks_stopped"} and set(reasons["all_blocks_stopped"]) == {"0", "1"}
    json.dumps(reasons)


def test_block_count_mismatch_in_state_is_refused():
    opt = make_optimizer("dc-cma", dim=4, seed=0, n_blocks=2)
    state = opt.state_dict()
    state["state"]["blocks"] = state["state"]["blocks"][:1]
    with pytest.raises(ResumeError, match="state has 1 blocks; this optimizer has 2"):
        make_optimizer("dc-cma", dim=4, seed=0, n_blocks=2).load_state_dict(state)


@pytest.mark.parametrize(
    ("kwargs", "dim", "match"),
    [
        ({"block_sizes": (3, 3)}, 7, r"block_sizes \[3, 3\] sum to 6; expected dim=7"),
        ({"n_blocks": 3}, 7, "dim=7 is not divisible by n_blocks=3"),
        ({"block_sizes": (3, 0)}, 3, "block_sizes must be a non-empty sequence of positive integers"),
        ({"block_sizes": ()}, 3, "block_sizes must be a non-empty sequence of positive integers"),
        ({"sigma0_first": -1.0}, 2, "sigma0_first must be a positive finite number or None"),
        ({"x0": (9.0, 0.0)}, 2, r"x0 must be inside the box \[-5.0, 5.0\]"),
        ({"x0": (0.0, 0.0, 0.0)}, 2, "x0 has 3 entries; expected dim=2"),
    ],
)
def test_bad_block_settings_raise(kwargs, dim, match):
    with pytest.raises(ConfigError, match=match):
        DivideAndConquer(DivideAndConquerConfig(seed=0, **kwargs), dim=dim)
