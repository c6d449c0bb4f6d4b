"""Tests for bbt_mp2/methods/mp2/method.py: routing, module combination, checkpoint checks, the two stages."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bbt_mp2.checkpoint import load_checkpoint
from bbt_mp2.errors import CheckpointError, ConfigError
from bbt_mp2.methods import RunConfig, build_config, get_method, route, run_method
from bbt_mp2.methods.mp2 import method as mp2_method


def mp2_config(method, ckpt, **kw):
    # BO fits a GP per model-based ask (seconds each): stage I here is its n_init random points only
    base = {"mp2-router": dict(budget=4, n_init=4, eval_every=2)}.get(
        method, dict(budget=36, budget_router=4, n_init=4, popsize=4, eval_every=8, eval_every_router=2))
    values = {**base, "checkpoint": str(ckpt), **kw}
    return RunConfig(task="fake", method=method, seed=11, method_config=build_config(method, overrides=values))


def test_route_normalises_per_layer():
    r = np.array([[0.0, 0.0, 0.0], [3.0, -3.0, 0.5]])
    w = route(r, "sigmoid")
    np.testing.assert_allclose(w.sum(-1), 1.0)
    np.testing.assert_allclose(w[0], 1 / 3)
    sig = 1 / (1 + np.exp(-r[1]))
    np.testing.assert_allclose(w[1], sig / sig.sum())
    b = route(r, "binary")
    np.testing.assert_allclose(b[1], [0.5, 0.0, 0.5])
    np.testing.assert_allclose(b[0], 1 / 3)  # no active module: the argmax module(s), ties share


def test_combination_is_the_router_weighted_sum_of_modules(fake_backend, deep_ckpt):
    m = get_method("mp2-deep").method_cls(build_config("mp2-deep", overrides={"checkpoint": str(deep_ckpt)}), seed=0)
    m.check(fake_backend().info())
    m.attach(fake_backend())
    z = load_checkpoint(deep_ckpt).z.double().numpy()
    routers = np.random.default_rng(0).normal(size=(5, 3, 3))
    out = m.combine(routers)
    assert out.shape == (5, 3, 6)
    for p in range(5):
        for layer in range(3):
            w = 1 / (1 + np.exp(-routers[p, layer]))
            np.testing.assert_allclose(out[p, layer], (w / w.sum()) @ z[layer])


@pytest.mark.parametrize(
    "backend_kw, method, ckpt_kw, match",
    [
        (dict(embedding_hash="otherbackbone"), "mp2-shallow", {}, "embedding hash"),
        (dict(hidden=8), "mp2-shallow", {}, "hidden size 4"),
        (dict(n_layers=2), "mp2-deep", {}, "has 2 layers"),
        ({}, "mp2-deep", dict(layers=(0,)), "is shallow"),
        ({}, "mp2-shallow", dict(layers=(1, 2)), "does not prompt layer 0"),
    ],
)
def test_incompatible_checkpoint_refused_before_work(fake_backend, split, fake_task, tmp_path, make_checkpoint,
                                                     backend_kw, method, ckpt_kw, match):
    ckpt = make_checkpoint(tmp_path / "ck", **ckpt_kw)
    backend = fake_backend(**backend_kw)
    with pytest.raises(CheckpointError, match=match):
        run_method(mp2_config(method, ckpt), backend, split, str(tmp_path / "run"), task_spec=fake_task)
    assert backend.registered == 0 and backend.requests == 0


def test_missing_checkpoint_names_the_command(fake_backend, split, fake_task, tmp_path):
    cfg = RunConfig(task="fake", method="mp2-shallow", seed=0, method_config=build_config("mp2-shallow"))
    with pytest.raises(ConfigError, match="bbt-mp2 pretrain"):
        run_method(cfg, fake_backend(), split, str(tmp_path), task_spec=fake_task)
    with pytest.raises(CheckpointError, match="is not served by the backend.*bbt-mp2 pretrain"):
        run_method(mp2_config("mp2-shallow", tmp_path / "nothing"), fake_backend(), split, str(tmp_path / "r"),
                   task_spec=fake_task)


@pytest.mark.parametrize("method", ["mp2-shallow", "mp2-deep"])
def test_stage_two_starts_from_the_dev_selected_router(method, fake_backend, split, fake_task, tmp_path, deep_ckpt,
                                                       monkeypatch):
    seen = {}
    real_cma, real_dc = mp2_method.cma_search, mp2_method.dc_cma_search

    def spy_cma(**kw):
        seen["x0"] = kw["x0"]
        return real_cma(**kw)

    def spy_dc(**kw):
        seen["x0"], seen["sigmas"] = kw["x0"], (kw["sigma_first"], kw["sigma_rest"])
        return real_dc(**kw)

    monkeypatch.setattr(mp2_method, "cma_search", spy_cma)
    monkeypatch.setattr(mp2_method, "dc_cma_search", spy_dc)
    res = run_method(mp2_config(method, deep_ckpt), fake_backend(), split, str(tmp_path / "r"), task_spec=fake_task)
    hist = [json.loads(x) for x in (tmp_path / "r" / "history.jsonl").read_text().splitlines()]
    assert [h["stage"] for h in hist] == ["router"] + ["prompt"] * 8  # BO asks its 4-point design as one population
    assert res.calls == 36
    # stage I alone (router-only with the same seed and settings) selects the router stage II must start from
    deep = method == "mp2-deep"
    alone = mp2_config("mp2-router", deep_ckpt, deep=deep)
    run_method(alone, fake_backend(), split, str(tmp_path / "alone"), task_spec=fake_task)
    router = np.load(tmp_path / "alone" / "best_router.npy")
    m = get_method(method).method_cls(build_config(method, overrides={"checkpoint": str(deep_ckpt)}), seed=0)
    m.check(fake_backend().info())
    m.attach(fake_backend())
    np.testing.assert_allclose(seen["x0"], m.combine(router[None])[0].reshape(-1))
    assert np.asarray(seen["x0"]).shape == ((3 if deep else 1) * 6,)
    if deep:
        assert seen["sigmas"] == (0.5, 0.1)


def test_router_only_and_resume(fake_backend, split, fake_task, tmp_path, deep_ckpt):
    cfg = mp2_config("mp2-router", deep_ckpt, deep=True)
    full = run_method(cfg, fake_backend(), split, str(tmp_path / "full"), task_spec=fake_task)
    assert full.calls == 4 and full.tuned["stage"] in ("start", "router")
    assert np.load(tmp_path / "full" / "best_router.npy").shape == (3, 3)
    with pytest.raises(RuntimeError):
        run_method(cfg, fake_backend(fail_after=3), split, str(tmp_path / "cut"), task_spec=fake_task)
    resumed = run_method(cfg, fake_backend(), split, str(tmp_path / "cut"), resume=True, task_spec=fake_task)
    assert resumed.tuned == full.tuned and resumed.best_train_loss == full.best_train_loss


def test_two_stage_resume_across_the_stage_boundary(fake_backend, split, fake_task, tmp_path, deep_ckpt):
    cfg = mp2_config("mp2-deep", deep_ckpt)
    full = run_method(cfg, fake_backend(), split, str(tmp_path / "full"), task_spec=fake_task)
    for fail_after in (3, 7, 10):  # requests: 2 start evals, 4 BO calls + 2 dev, then stage II
        out = tmp_path / f"cut{fail_after}"
        with pytest.raises(RuntimeError):
            run_method(cfg, fake_backend(fail_after=fail_after), split, str(out), task_spec=fake_task)
        resumed = run_method(cfg, fake_backend(), split, str(out), resume=True, task_spec=fake_task)
        assert resumed.tuned == full.tuned and resumed.calls == full.calls and resumed.dev_calls == full.dev_calls
        np.testing.assert_array_equal(np.load(out / "best_params.npy"), np.load(tmp_path / "full" / "best_params.npy"))


def test_stage_budget_below_generation(fake_backend, split, fake_task, tmp_path, deep_ckpt):
    with pytest.raises(ConfigError, match="stage 'router'.*smaller than one generation"):
        run_method(mp2_config("mp2-deep", deep_ckpt, budget_router=3), fake_backend(), split, str(tmp_path),
                   task_spec=fake_task)
    with pytest.raises(ConfigError, match="stage 'prompt'.*budget of 2"):
        run_method(mp2_config("mp2-deep", deep_ckpt, budget=6), fake_backend(), split, str(tmp_path),
                   task_spec=fake_task)


def test_router_only_follows_the_checkpoint_depth_by_default(fake_backend, deep_ckpt):
    def layers(**kw):
        values = {"checkpoint": str(deep_ckpt), **kw}
        m = get_method("mp2-router").method_cls(build_config("mp2-router", overrides=values), seed=0)
        m.check(fake_backend().info())
        return m.layers

    assert layers() == tuple(load_checkpoint(deep_ckpt).config.layers) and len(layers()) == 3
    assert layers(deep=False) == (0,)
