"""Tests of optimizers/bo.py: kappa -> beta, the random design, GP steps in low and high dimension, seeding."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from optimizers import BOUCB, BOUCBConfig, kappa_to_beta
from optimizers.errors import ConfigError

CHEAP = {"num_restarts": 2, "raw_samples": 32, "maxiter": 30}


def _sphere(X: np.ndarray) -> np.ndarray:
    return ((X - 1.0) ** 2).sum(1)


@pytest.mark.parametrize(("kappa", "beta"), [(2.0, 4.0), (0.0, 0.0), (0.5, 0.25), (3.0, 9.0)])
def test_kappa_to_beta_squares_kappa(kappa, beta):
    assert kappa_to_beta(kappa) == beta


def test_kappa_to_beta_rejects_negative_or_nan():
    with pytest.raises(ConfigError, match="kappa must be a finite number >= 0; got -1.0"):
        kappa_to_beta(-1.0)
    with pytest.raises(ConfigError, match="kappa must be a finite number >= 0"):
        kappa_to_beta(float("nan"))


def test_ucb_acquisition_gets_beta_from_kappa():
    opt = BOUCB(BOUCBConfig(seed=0, n_init=3, kappa=2.0, **CHEAP), dim=2)
    for _ in range(2):
        X = opt.ask()
        opt.tell(X, _sphere(X))
    acquisition = opt._acquisition(opt._fit_model(), step_seed=0)
    assert float(acquisition.beta) == 4.0


def test_initial_design_is_one_population_uniform_in_the_box():
    opt = BOUCB(BOUCBConfig(seed=0, n_init=20, bounds=2.0), dim=3)
    X = opt.ask()
    assert X.shape == (20, 3)  # 20 forward passes become one request
    assert np.array_equal(X, np.random.default_rng(0).uniform(-2.0, 2.0, size=(20, 3)))
    opt.tell(X, _sphere(X))
    assert opt.last_step_seconds == 0.0  # no GP yet


def test_q_batch_acquisition_asks_q_candidates_after_the_design():
    opt = BOUCB(BOUCBConfig(seed=0, n_init=5, q=3, **CHEAP), dim=3)
    sizes = []
    for _ in range(3):
        X = opt.ask()
        sizes.append(X.shape[0])
        assert np.all(np.abs(X) <= 5.0)
        opt.tell(X, _sphere(X))
    assert sizes == [5, 3, 3]
    assert opt.observed[0].shape == (11, 3)
    assert type(opt._acquisition(opt._fit_model(), step_seed=0)).__name__ == "qUpperConfidenceBound"
    X = opt.ask()  # the q points of one ask are distinct (a joint maximiser, not q copies of one)
    assert len({tuple(row) for row in X.round(6)}) == 3


def test_resume_inside_the_design_population_continues_exactly():
    import json

    a = BOUCB(BOUCBConfig(seed=2, n_init=4, **CHEAP), dim=2)
    X0 = a.ask()
    state = json.loads(json.dumps(a.state_dict()))  # saved while the design is pending
    b = BOUCB(BOUCBConfig(seed=2, n_init=4, **CHEAP), dim=2)
    b.load_state_dict(state)
    assert np.array_equal(b.ask(), X0)
    for opt in (a, b):
        opt.tell(X0, _sphere(X0))
    assert np.array_equal(a.ask(), b.ask())


def test_a_gp_step_does_not_change_global_torch_rng_or_threads():
    opt = BOUCB(BOUCBConfig(seed=0, n_init=3, torch_threads=1, **CHEAP), dim=2)
    for _ in range(3):
        X = opt.ask()
        opt.tell(X, _sphere(X))
    torch.set_num_threads(2)
    rng_before = torch.random.get_rng_state().clone()
    opt.ask()
    assert torch.equal(torch.random.get_rng_state(), rng_before)
    assert torch.get_num_threads() == 2


def test_high_dimensional_step_stays_in_the_box_and_is_cheap_by_default():
    """D = 192 (8 router logits x 24 layers): the auto settings use the isotropic GP and a light search."""
    opt = BOUCB(BOUCBConfig(seed=0, n_init=4), dim=192)
    assert opt.config.search_settings(192) == ("iso-matern52", 4, 256)
    assert opt.config.replace(kernel="auto").search_settings(8) == ("ard-rbf", 10, 512)
    for _ in range(4):
        X = opt.ask()
        opt.tell(X, _sphere(X))
    start = time.perf_counter()
    X = opt.ask()
    assert X.shape == (1, 192) and np.all(np.abs(X) <= 5.0)
    assert time.perf_counter() - start < 60  # generous: seconds on 2 busy cores
    assert opt.last_step_seconds > 0.0


def test_ard_kernel_option_runs_and_finds_a_different_point():
    results = {}
    for kernel in ("ard-rbf", "iso-matern52"):
        opt = BOUCB(BOUCBConfig(seed=0, n_init=4, kernel=kernel, **CHEAP), dim=3)
        for _ in range(4):
            X = opt.ask()
            opt.tell(X, _sphere(X))
        results[kernel] = opt.ask()
    assert not np.array_equal(results["ard-rbf"], results["iso-matern52"])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"kappa": -0.5}, "BOUCBConfig.kappa must be a finite number >= 0; got -0.5"),
        ({"n_init": 0}, "BOUCBConfig.n_init must be an integer >= 1; got 0"),
        ({"bounds": None}, "BOUCBConfig.bounds must be a positive finite number; got None"),
        ({"q": 0}, "BOUCBConfig.q must be an integer >= 1"),
        ({"kernel": "rbf"}, r"BOUCBConfig.kernel must be one of \['auto', 'ard-rbf', 'iso-matern52'\]; got 'rbf'"),
        ({"num_restarts": 0}, "BOUCBConfig.num_restarts must be an integer >= 1"),
        ({"torch_threads": 0}, "BOUCBConfig.torch_threads must be an integer >= 1"),
    ],
)
def test_bad_config_values_raise(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        BOUCBConfig(seed=0, **kwargs)
