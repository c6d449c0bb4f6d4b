"""Tests of optimizers/registry.py: names, lazy and import-path names, option checking, the golden trajectories.

Golden file: `tests/optimizers/golden.json` holds, per registered optimizer, the losses of 3 generations
(seed 0) on a fixed quadratic. Regenerate it only on purpose, in its own commit:

    BBT_MP2_REGEN_GOLDEN=1 .venv/bin/pytest tests/optimizers/test_optimizer_registry.py -k golden
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from optimizers import (
    CMA,
    Optimizer,
    get_optimizer_class,
    make_optimizer,
    optimizer_names,
    register_optimizer,
)
from optimizers.errors import ConfigError, UnknownNameError

GOLDEN = Path(__file__).with_name("golden.json")
GOLDEN_DIM = 4
GOLDEN_OPTIONS = {  # bo-ucb: 2 random points then 1 GP step, so the model path is covered
    "cma": {"sigma0": 0.5, "popsize": 6},
    "dc-cma": {"n_blocks": 2, "popsize": 6},
    "bo-ucb": {"n_init": 2, "num_restarts": 2, "raw_samples": 32, "maxiter": 30},
    "random": {"popsize": 6},
}


def _golden_quadratic(X: np.ndarray) -> np.ndarray:
    return (np.arange(1, GOLDEN_DIM + 1) * (X - 0.5) ** 2).sum(1)


def _golden_losses(name: str) -> list[list[float]]:
    opt = make_optimizer(name, dim=GOLDEN_DIM, seed=0, **GOLDEN_OPTIONS[name])
    out = []
    for _ in range(3):
        X = opt.ask()
        losses = _golden_quadratic(X)
        opt.tell(X, losses)
        out.append(losses.tolist())
    return out


def test_golden_trajectories_match_the_committed_file():
    if os.environ.get("BBT_MP2_REGEN_GOLDEN") == "1":
        data = {name: _golden_losses(name) for name in optimizer_names()}
        GOLDEN.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
        pytest.skip(f"regenerated {GOLDEN}; commit it on its own")
    golden = json.loads(GOLDEN.read_text())
    assert sorted(golden) == optimizer_names(), "a registered optimizer has no golden entry; regenerate"
    for name in optimizer_names():
        got = _golden_losses(name)
        assert [len(g) for g in got] == [len(g) for g in golden[name]], name
        np.testing.assert_allclose(np.concatenate(got), np.concatenate(golden[name]), rtol=1e-6, err_msg=name)


def test_names_and_classes():
    assert optimizer_names() == sorted(optimizer_names())
    assert {"bo-ucb", "cma", "dc-cma", "random"} <= set(optimizer_names())
    assert get_optimizer_class("cma") is CMA and CMA.name == "cma"
    assert get_optimizer_class("bo-ucb").name == "bo-ucb"  # registered lazily, resolved on first use


def test_unknown_names_list_the_valid_ones():
    with pytest.raises(UnknownNameError, match=r"unknown optimizer 'cmaes'; registered optimizers: \['bo-ucb'.*"
                                               r"'ng:<Name>'.*'package.module:Class'"):
        make_optimizer("cmaes", dim=2, seed=0)
    with pytest.raises(KeyError):  # UnknownNameError is also a KeyError
        get_optimizer_class("nope")
    with pytest.raises(UnknownNameError, match="module 'no_such_module_xyz' does not import"):
        get_optimizer_class("no_such_module_xyz:Opt")
    with pytest.raises(UnknownNameError, match="module 'optimizers.cma' has no attribute 'Nope'"):
        get_optimizer_class("optimizers.cma:Nope")
    with pytest.raises(ConfigError, match="not an optimizers.Optimizer subclass"):
        get_optimizer_class("optimizers.cma:CMAConfig")


def test_an_optimizer_class_by_import_path_runs_through_make_optimizer():
    opt = make_optimizer("optimizers.random_search:RandomSearch", dim=3, seed=0, popsize=5)
    X = opt.ask()
    assert X.shape == (5, 3)
    opt.tell(X, (X**2).sum(1))
    same = make_optimizer("random", dim=3, seed=0, popsize=5)
    assert np.array_equal(same.ask(), X)


def test_unknown_or_bad_options_raise_config_errors():
    with pytest.raises(ConfigError, match=r"CMAConfig got unknown keys \['sigma'\]; valid keys: \["):
        make_optimizer("cma", dim=2, seed=0, sigma=1.0)
    with pytest.raises(ConfigError, match="CMAConfig.popsize must be an integer >= 2; got 0"):
        make_optimizer("cma", dim=2, seed=0, popsize=0)
    with pytest.raises(ConfigError, match="dim must be a positive integer"):
        make_optimizer("random", dim=-3, seed=0)


def test_register_rejects_collisions_and_bad_names():
    with pytest.raises(ConfigError, match="optimizer name 'cma' is already registered by CMA"):
        register_optimizer("cma")(CMA)
    with pytest.raises(ConfigError, match="must be lowercase words joined by hyphens"):
        register_optimizer("My_Opt")


def test_a_user_optimizer_plugs_into_the_registry(monkeypatch):
    from optimizers import RandomSearchConfig, registry

    monkeypatch.setattr(registry, "_OPTIMIZERS", dict(registry._OPTIMIZERS))  # registration undone afterwards

    class Shrinking(Optimizer):
        config_cls = RandomSearchConfig

        def _ask(self):
            scale = 0.5 ** self.n_generations
            return scale * self._rng.standard_normal((4, self.dim))

        def _tell(self, X, losses):
            pass

        def _state_dict(self):
            return {"rng": self._rng.bit_generator.state}

        def _load_state_dict(self, state):
            self._rng.bit_generator.state = state["rng"]

    register_optimizer("test-shrinking")(Shrinking)
    assert "test-shrinking" in optimizer_names()
    opt = make_optimizer("test-shrinking", dim=3, seed=0)
    x, loss = opt.minimize(lambda X: (X**2).sum(1), max_evals=40)
    assert opt.n_evals == 40 and loss < 0.01 and x.shape == (3,)
