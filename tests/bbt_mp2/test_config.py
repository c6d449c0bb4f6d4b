"""Tests of the one config base (optimizers/configs.py ConfigBase, bound in bbt_mp2/config.py): error classes,
``--set`` parsing, ``replace``. The registry-wide round trip of every config class is tests/test_configs_registry.py."""

from __future__ import annotations

import json

import pytest

from bbt_mp2.config import Config
from bbt_mp2.errors import CheckpointError, ConfigError

REQUIRED = {  # values for the fields that have no default (seeds, shapes)
    "seed": 7, "backbone": "minilm", "embedding_hash": "abc", "n_tokens": 4, "n_modules": 2, "d": 3, "hidden": 8,
    "layers": [0, 1], "task_names": ["sst2"],
}


def test_errors_are_the_toolkits_and_checkpoint_configs_raise_checkpoint_errors():
    from bbt_mp2.checkpoint_config import CheckpointConfig
    from bbt_mp2.methods import BBTConfig

    assert issubclass(BBTConfig, Config) and BBTConfig.error is ConfigError
    with pytest.raises(CheckpointError, match=r"checkpoint config.routing must be one of"):
        CheckpointConfig.from_dict({**{k: REQUIRED[k] for k in CheckpointConfig.required_fields()},
                                    "routing": "softmax"})


def test_parse_value_and_replace_validate():
    from bbt_mp2.methods import BBTConfig

    assert BBTConfig.parse_value("bound", "none") is None and BBTConfig.parse_value("sigma", "5e-2") == 0.05
    assert BBTConfig.parse_value("budget", "300") == 300 and BBTConfig.parse_value("projection", "uniform") == "uniform"
    with pytest.raises(ConfigError, match=r"setting budget='many' does not parse as int"):
        BBTConfig.parse_value("budget", "many")
    cfg = BBTConfig().replace(sigma=2)
    assert cfg.sigma == 2.0 and isinstance(cfg.sigma, float)
    with pytest.raises(ConfigError, match=r"sigma must be a positive finite number; got -1"):
        cfg.replace(sigma=-1)
    from bbt_mp2.pretrain.config import PretrainConfig

    assert PretrainConfig.parse_value("tasks", "mr, cr") == ("mr", "cr")
    assert PretrainConfig.parse_value("deep", "no") is False


def test_pretrain_config_json_is_unchanged_for_runs_in_progress():
    from bbt_mp2.pretrain.config import PretrainConfig, english_recipe

    cfg = english_recipe(seed=0, steps=10000)
    data = json.loads(cfg.to_json())
    assert data["task_weights"] == {"cr": 2.0, "mpqa": 1.5, "mr": 2.0, "sst5": 2.0}  # a mapping, as before
    assert data["tasks"][:2] == ["mr", "cr"] and PretrainConfig.from_json(cfg.to_json()) == cfg
