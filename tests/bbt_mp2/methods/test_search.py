"""Tests for bbt_mp2/methods/search.py: a method config's ``optimizer`` swaps the tuning stage's optimizer by name
(the sweep's optimizer axis), with the stage's settings, kept divide and conquer, recorded, and resumed exactly."""

from __future__ import annotations

import json

import numpy as np
import pytest

import optimizers
from bbt_mp2.methods import RunConfig, build_config, run_method
from bbt_mp2.methods.search import cma_search, dc_cma_search, named_search


def test_named_search_gets_the_stage_settings_its_config_has():
    opt = named_search("random", dim=4, seed=1, x0=np.full(4, 9.0), sigma=0.3, popsize=6, bound=2.0, budget=60)
    assert isinstance(opt, optimizers.RandomSearch)
    assert opt.config.popsize == 6 and opt.config.sigma == 0.3 and opt.config.bounds == 2.0
    assert opt.config.x0 == (2.0,) * 4  # clipped into the box
    ng = named_search("ng:TBPSA", dim=3, seed=0, x0=np.zeros(3), sigma=0.5, popsize=4, bound=None, budget=40)
    assert ng.config.budget == 40 and ng.config.popsize == 4 and ng.ask().shape == (4, 3)


def test_cma_search_default_and_swapped():
    assert isinstance(cma_search(dim=3, seed=0, x0=np.zeros(3), sigma=0.5, popsize=4, bound=None), optimizers.CMA)
    swapped = cma_search(dim=3, seed=0, x0=np.zeros(3), sigma=0.5, popsize=4, bound=None, optimizer="random")
    assert isinstance(swapped, optimizers.RandomSearch)


def test_divide_and_conquer_keeps_its_blocks_with_the_named_inner_optimizer():
    opt = dc_cma_search(blocks=[2, 3], seed=0, x0=np.zeros(5), sigma_first=0.5, sigma_rest=0.1, popsize=4,
                        bound=5.0, optimizer="random", budget=40)
    assert isinstance(opt, optimizers.DivideAndConquer)
    assert [type(b) for b in opt.block_optimizers] == [optimizers.RandomSearch] * 2
    assert [b.config.sigma for b in opt.block_optimizers] == [0.5, 0.1]
    X = opt.ask()
    assert X.shape == (4, 5) and np.all(X[:, 2:] == 0) and np.any(X[:, :2] != 0)  # block 0 varies first


def test_unknown_optimizer_names_the_registered_ones():
    with pytest.raises(KeyError, match="registered optimizers"):
        cma_search(dim=3, seed=0, x0=np.zeros(3), sigma=0.5, popsize=4, bound=None, optimizer="nope")


@pytest.mark.parametrize("method", ["bbt", "bbtv2"])
def test_swapped_run_is_recorded_and_resumes_exactly(method, fake_backend, split, fake_task, tmp_path):
    values = {"budget": 32, "popsize": 4, "eval_every": 8, "d": 6, "n_tokens": 2, "optimizer": "random"}
    cfg = RunConfig(task="fake", method=method, seed=3, method_config=build_config(method, overrides=values))
    full = run_method(cfg, fake_backend(), split, str(tmp_path / "full"), task_spec=fake_task)
    saved = json.loads((tmp_path / "full" / "config.json").read_text())
    assert saved["run"]["method_config"]["optimizer"] == "random"
    with pytest.raises(RuntimeError, match="killed"):
        run_method(cfg, fake_backend(fail_after=5), split, str(tmp_path / "cut"), task_spec=fake_task)
    resumed = run_method(cfg, fake_backend(), split, str(tmp_path / "cut"), resume=True, task_spec=fake_task)
    assert resumed.best_train_loss == full.best_train_loss and resumed.tuned == full.tuned
    other = build_config(method, overrides={**values, "optimizer": None})
    plain = run_method(RunConfig(task="fake", method=method, seed=3, method_config=other), fake_backend(), split,
                       str(tmp_path / "plain"), task_spec=fake_task)
    assert plain.best_train_loss != full.best_train_loss  # the swap changed the search


def test_a_nevergrad_stage_resumes_exactly_from_the_json_run_state(fake_backend, split, fake_task, tmp_path):
    values = {"budget": 32, "popsize": 4, "eval_every": 8, "d": 6, "n_tokens": 2, "optimizer": "ng:DiagonalCMA"}
    cfg = RunConfig(task="fake", method="bbt", seed=3, method_config=build_config("bbt", overrides=values))
    full = run_method(cfg, fake_backend(), split, str(tmp_path / "full"), task_spec=fake_task)
    with pytest.raises(RuntimeError, match="killed"):
        run_method(cfg, fake_backend(fail_after=5), split, str(tmp_path / "cut"), task_spec=fake_task)
    state = json.loads((tmp_path / "cut" / "state.json").read_text())
    assert state["optimizer"]["optimizer"] == "ng:DiagonalCMA" and state["optimizer"]["state"]["losses"]
    resumed = run_method(cfg, fake_backend(), split, str(tmp_path / "cut"), resume=True, task_spec=fake_task)
    assert resumed.best_train_loss == full.best_train_loss and resumed.tuned == full.tuned
