"""Tests for bbt_mp2/pretrain/config.py: validation, defaults by depth, JSON round trip."""

from __future__ import annotations

import json

import pytest

from bbt_mp2.errors import ConfigError
from bbt_mp2.pretrain import ENGLISH_UPSTREAM, PretrainConfig, english_recipe


def test_learning_rates_follow_depth_unless_given():
    deep, shallow = PretrainConfig(seed=0, deep=True), PretrainConfig(seed=0, deep=False)
    assert (deep.router_lr, deep.prompt_lr) == (5e-4, 1e-4)
    assert (shallow.router_lr, shallow.prompt_lr) == (1e-3, 1e-3)
    assert PretrainConfig(seed=0, lr_router=0.02).router_lr == 0.02


def test_layers_deep_and_shallow():
    assert PretrainConfig(seed=0, deep=True).layers(6) == (0, 1, 2, 3, 4, 5)
    assert PretrainConfig(seed=0, deep=False).layers(6) == (0,)


def test_round_trip_through_json():
    cfg = english_recipe(seed=5, steps=77, deep=False)
    back = PretrainConfig.from_dict(json.loads(cfg.to_json()))
    assert back == cfg
    assert back.tasks == ENGLISH_UPSTREAM and dict(back.task_weights)["mr"] == 2.0


def test_sampling_probs_use_weights():
    cfg = PretrainConfig(seed=0, tasks=("a", "b", "c"), task_weights={"b": 2.0})
    assert cfg.sampling_probs() == pytest.approx([0.25, 0.5, 0.25])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(tasks=()), "non-empty"),
        (dict(tasks=("a", "a")), "twice"),
        (dict(tasks=("a",), task_weights={"b": 1.0}), "'b', which is not in tasks"),
        (dict(tasks=("a",), task_weights={"a": 0.0}), "must be > 0"),
        (dict(steps=0), "steps must be a positive integer"),
        (dict(schedule="step"), "schedule 'step' is unknown"),
        (dict(eval_routing="soft"), "eval_routing 'soft' is unknown"),
        (dict(n_tokens=90, max_length=96), "leaves no room"),
        (dict(lr_router=-1.0), "lr_router must be > 0"),
    ],
)
def test_bad_values_are_refused(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        PretrainConfig(seed=0, **kwargs)


def test_unknown_keys_are_refused():
    with pytest.raises(ConfigError, match="unknown keys \\['lr'\\]"):
        PretrainConfig.from_dict({"seed": 0, "lr": 1.0})
