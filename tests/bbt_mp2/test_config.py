"""Tests of the one config base (optimizers/configs.py ConfigBase, bound in bbt_mp2/config.py): every config of the
project round-trips through JSON, rejects unknown keys by name, and parses ``--set`` strings."""

from __future__ import annotations

import dataclasses
import importlib
import json

import pytest

from bbt_mp2.config import Config
from bbt_mp2.errors import CheckpointError, ConfigError
from optimizers.configs import ConfigBase

MODULES = ["optimizers", "optimizers.bo", "optimizers.nevergrad", "bbt_mp2.methods", "bbt_mp2.pretrain.config",
           "bbt_mp2.checkpoint_config"]
REQUIRED = {  # values for the fields that have no default (seeds, shapes)
    "seed": 7, "backbone": "minilm", "embedding_hash": "abc", "n_tokens": 4, "n_modules": 2, "d": 3, "hidden": 8,
    "layers": [0, 1], "task_names": ["sst2"],
}


def _all_configs() -> list[type[ConfigBase]]:
    for name in MODULES:
        importlib.import_module(name)
    seen, todo = [], [ConfigBase]
    while todo:
        cls = todo.pop()
        for sub in cls.__subclasses__():
            todo.append(sub)
            if sub.__module__.startswith(("optimizers", "bbt_mp2")) and dataclasses.fields(sub):
                seen.append(sub)
    return sorted(set(seen), key=lambda c: c.__qualname__)


CONFIGS = _all_configs()


def test_every_config_of_the_project_is_on_the_one_base():
    names = {c.__name__ for c in CONFIGS}
    assert {"CMAConfig", "DivideAndConquerConfig", "BOUCBConfig", "RandomSearchConfig", "NevergradConfig",
            "BBTConfig", "BBTv2Config", "MP2ShallowConfig", "MP2DeepConfig", "MP2RouterConfig", "PretrainConfig",
            "CheckpointConfig"} <= names
    for cls in CONFIGS:
        assert dataclasses.is_dataclass(cls) and cls.__dataclass_params__.frozen, cls


@pytest.mark.parametrize("cls", CONFIGS, ids=lambda c: c.__name__)
def test_json_round_trip_and_unknown_keys_named(cls):
    cfg = cls.from_dict({k: REQUIRED[k] for k in cls.required_fields()})
    text = cfg.to_json()
    assert list(json.loads(text)) == sorted(json.loads(text))
    assert cls.from_json(text) == cfg and cls.from_dict(json.loads(text)) == cfg
    with pytest.raises(cls.error, match=r"got unknown keys \['no_such_key'\]; valid keys: \[.*"
                                        + sorted(cfg.to_dict())[0]):
        cls.from_dict({**cfg.to_dict(), "no_such_key": 1})
    if cls.required_fields():
        with pytest.raises(cls.error, match=r"needs \[.*\] \(no default\)"):
            cls.from_dict({})
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.seed = 1  # type: ignore[misc]


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
