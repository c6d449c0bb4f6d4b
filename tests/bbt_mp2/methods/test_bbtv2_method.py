"""Tests for bbt_mp2/methods/bbtv2/method.py and bbt_mp2/methods/bbt/method.py: what they send to the backend."""

from __future__ import annotations

import numpy as np

from bbt_mp2.methods import build_config, get_method
from bbt_mp2.methods.bbtv2 import method as bbtv2_method


def test_bbtv2_prompts_every_layer_with_train_scaled_projections(fake_backend, monkeypatch):
    seen = {}

    def spy(**kw):
        seen.update(kw)
        return "optimizer"

    monkeypatch.setattr(bbtv2_method, "dc_cma_search", spy)
    cfg = build_config("bbtv2", overrides={"d": 7, "sigma": 0.8, "sigma_rest": 0.3, "alpha": 0.5})
    m = get_method("bbtv2").method_cls(cfg, seed=4)
    m.check(fake_backend(n_layers=5).info())
    param, start, extras = m.start("train-id")
    assert param.layers == (0, 1, 2, 3, 4) and param.d == 7
    assert param.projection.kind == "normal" and param.projection.stats_dataset == "train-id"
    assert (param.projection.alpha, param.projection.sigma) == (0.5, 0.8)
    assert start.shape == (5, 7) and not start.any() and extras == {}
    stage = m.build_stage(0, {})
    assert stage.build_optimizer(123) == "optimizer"
    assert seen["blocks"] == [7] * 5 and (seen["sigma_first"], seen["sigma_rest"]) == (0.8, 0.3)
    assert seen["seed"] == 123 and seen["popsize"] == 20
    X = np.arange(2 * 35, dtype=float).reshape(2, 35)
    np.testing.assert_array_equal(stage.decode(X)[1, 2], X[1, 14:21])  # layer 2's block of candidate 1


def test_bbt_projection_is_seeded_from_the_run_seed(fake_backend):
    def param(seed):
        m = get_method("bbt").method_cls(build_config("bbt"), seed=seed)
        m.check(fake_backend().info())
        return m.start("t")[0]

    assert param(1) == param(1)
    assert param(1).projection.seed != param(2).projection.seed
    assert param(1).layers == (0,) and param(1).d == 500
