"""Tests of optimizers/random_search.py."""

from __future__ import annotations

import numpy as np
import pytest

from optimizers import RandomSearch, RandomSearchConfig
from optimizers.errors import ConfigError, ResumeError


def test_uniform_candidates_come_from_the_seeded_generator_in_the_box():
    opt = RandomSearch(RandomSearchConfig(seed=4, popsize=7, bounds=2.0), dim=3)
    X = opt.ask()
    assert np.array_equal(X, np.random.default_rng(4).uniform(-2.0, 2.0, size=(7, 3)))


def test_gaussian_candidates_centre_on_x0_and_clip_to_the_box():
    cfg = RandomSearchConfig(seed=0, popsize=2000, distribution="gaussian", sigma=0.5, x0=(1.0, -1.0), bounds=None)
    X = RandomSearch(cfg, dim=2).ask()
    assert np.allclose(X.mean(0), [1.0, -1.0], atol=0.05) and np.allclose(X.std(0), 0.5, atol=0.05)
    clipped = RandomSearch(cfg.replace(bounds=1.2), dim=2).ask()
    assert clipped.max() <= 1.2 and clipped.min() >= -1.2


def test_best_is_the_minimum_told():
    opt = RandomSearch(RandomSearchConfig(seed=0, popsize=5), dim=2)
    X = opt.ask()
    losses = np.array([3.0, 1.0, 2.0, 1.0, 5.0])
    opt.tell(X, losses)
    x, loss = opt.best
    assert loss == 1.0 and np.array_equal(x, X[1])


def test_invalid_settings_and_state_raise():
    with pytest.raises(ConfigError, match="bounds=None is only valid with distribution='gaussian'"):
        RandomSearchConfig(seed=0, bounds=None)
    with pytest.raises(ConfigError, match=r"distribution must be one of \['uniform', 'gaussian'\]; got 'sobol'"):
        RandomSearchConfig(seed=0, distribution="sobol")
    opt = RandomSearch(RandomSearchConfig(seed=0), dim=2)
    state = opt.state_dict()
    state["state"] = {}
    with pytest.raises(ResumeError, match="no valid generator state"):
        RandomSearch(RandomSearchConfig(seed=0), dim=2).load_state_dict(state)
