"""Shared objectives, fast per-optimizer settings and a run loop for the optimizer tests."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace

import numpy as np
import pytest

from optimizers import Optimizer, make_optimizer

DIM = 6
OPTIMUM = np.linspace(-1.5, 1.5, DIM)  # off-origin, inside every box, so starting at 0 is not already optimal

# Cheap settings per optimizer (registered and nevergrad); BO gets a small design and a light acquisition search.
FAST_OPTIONS: dict[str, dict] = {
    "cma": {"sigma0": 1.0, "popsize": 10},
    "dc-cma": {"n_blocks": 2, "sigma0_first": 1.0, "sigma0": 1.0, "popsize": 10},
    "bo-ucb": {"n_init": 8, "num_restarts": 3, "raw_samples": 64, "maxiter": 50},
    "random": {"popsize": 20},
    "ng:TBPSA": {"popsize": 10},
    "ng:DiagonalCMA": {"popsize": 10, "sigma0": 1.0},
}


def sphere(X: np.ndarray) -> np.ndarray:
    """Squared distance to OPTIMUM, P losses for a P x DIM population."""
    return ((X - OPTIMUM) ** 2).sum(axis=1)


def _rotation(dim: int, seed: int = 123) -> np.ndarray:
    q, r = np.linalg.qr(np.random.default_rng(seed).standard_normal((dim, dim)))
    return q * np.sign(np.diag(r))


_Q = _rotation(DIM)
_SCALES = 10.0 ** (3 * np.arange(DIM) / (DIM - 1))  # condition number 1e3


def rotated_ellipsoid(X: np.ndarray) -> np.ndarray:
    """Rotated ill-conditioned quadratic with minimum 0 at OPTIMUM."""
    Y = (X - OPTIMUM) @ _Q.T
    return (_SCALES * Y**2).sum(axis=1)


def make_noisy_sphere(seed: int = 7, noise: float = 0.1) -> Callable[[np.ndarray], np.ndarray]:
    """Sphere plus Gaussian noise of std `noise` from its own generator."""
    rng = np.random.default_rng(seed)

    def noisy(X: np.ndarray) -> np.ndarray:
        return sphere(X) + noise * rng.standard_normal(X.shape[0])

    return noisy


def build(name: str, *, seed: int = 0, dim: int = DIM, **overrides) -> Optimizer:
    """A registered optimizer with the fast test options."""
    return make_optimizer(name, dim=dim, seed=seed, **{**FAST_OPTIONS[name], **overrides})


def run(opt: Optimizer, objective: Callable[[np.ndarray], np.ndarray], generations: int) -> list[np.ndarray]:
    """Drive `generations` ask/tell rounds; returns every asked population."""
    asked = []
    for _ in range(generations):
        X = opt.ask()
        asked.append(X)
        opt.tell(X, objective(X))
    return asked


@pytest.fixture(autouse=True)
def _one_torch_thread(one_thread):
    """BoTorch's small GPs are fastest single-threaded on a shared 2-core machine (tests/conftest.py)."""


@pytest.fixture
def kit() -> SimpleNamespace:
    """The helpers above, for test modules (importlib mode cannot import conftest by name)."""
    return SimpleNamespace(DIM=DIM, OPTIMUM=OPTIMUM, FAST_OPTIONS=FAST_OPTIONS, sphere=sphere,
                           rotated_ellipsoid=rotated_ellipsoid, make_noisy_sphere=make_noisy_sphere, build=build,
                           run=run)
