"""Registry-wide test of the one config base (``optimizers.configs.ConfigBase``): every config class of the project
round-trips through JSON to an equal object and refuses an unknown key with an error naming the key and the class.

The classes are found by importing every module of the project's packages and walking the subclasses of the base,
so a config class added anywhere is covered without editing this file; the method and optimizer registries are
checked to be inside that walk.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import pkgutil
import re
from typing import Any

import pytest

from optimizers.configs import ConfigBase

PACKAGES = ("optimizers", "bbt_mp2", "servers", "benchmarks")

# example values of required fields (no default: seeds, data paths, shapes), by field name; a class whose required
# fields constrain each other gets its own entry in EXAMPLES
REQUIRED: dict[str, Any] = {
    "seed": 7, "backbone": "minilm", "embedding_hash": "abc", "n_tokens": 4, "n_modules": 2, "d": 3, "hidden": 8,
    "layers": [0, 1], "task_names": ["sst2"], "task": "sst2", "name": "smoke",
}
EXAMPLES: dict[str, dict[str, Any]] = {
    "RunConfig": {"task": "sst2", "method": "mp2-deep", "seed": 13, "max_length": 96,
                  "method_config": {"budget": 40, "budget_router": 20, "popsize": 4, "checkpoint": "english-deep"}},
    "DownstreamConfig": {"method": "prompt-tuning", "task": "sst2", "seed": 13, "checkpoint": "english-deep",
                         "steps": 10, "stage1_steps": 4, "k": 4},
    "SweepConfig": {"name": "smoke", "checkpoints": {"deep": "english-deep"}, "fixed": {"set": ["popsize=4"]},
                    "axes": {"methods": ["bbt"], "tasks": ["sst2"], "seeds": [13], "budgets": [{"*": 8}]},
                    "tracks": {"main": {}}},
}


def _import_project() -> None:
    for package in PACKAGES:
        module = importlib.import_module(package)
        for info in pkgutil.walk_packages(module.__path__, f"{package}."):
            importlib.import_module(info.name)


def _config_classes() -> list[type[ConfigBase]]:
    _import_project()
    seen: set[type[ConfigBase]] = set()
    todo = [ConfigBase]
    while todo:
        for sub in todo.pop().__subclasses__():
            todo.append(sub)
            if sub.__module__.split(".")[0] in PACKAGES and dataclasses.fields(sub):
                seen.add(sub)
    return sorted(seen, key=lambda c: f"{c.__module__}.{c.__qualname__}")


CONFIGS = _config_classes()


def _example(cls: type[ConfigBase]) -> dict[str, Any]:
    if cls.__name__ in EXAMPLES:
        return dict(EXAMPLES[cls.__name__])
    missing = [k for k in cls.required_fields() if k not in REQUIRED]
    assert not missing, (f"{cls.__qualname__} has required fields {missing} with no example value: add them to "
                         "REQUIRED (or the class to EXAMPLES) in tests/test_configs_registry.py")
    return {k: REQUIRED[k] for k in cls.required_fields()}


def test_the_walk_finds_every_registered_and_named_config():
    from bbt_mp2.methods import get_method, method_names
    from optimizers import get_optimizer_class, optimizer_names

    found = set(CONFIGS)
    for name in method_names():
        assert get_method(name).config_cls in found, name
    for name in optimizer_names():
        assert get_optimizer_class(name).config_cls in found, name
    assert {"PretrainConfig", "CheckpointConfig", "RunConfig", "DownstreamConfig", "SweepConfig",
            "NevergradConfig"} <= {c.__name__ for c in CONFIGS}
    for cls in CONFIGS:
        assert cls.__dataclass_params__.frozen, f"{cls.__qualname__} must be a frozen dataclass"


@pytest.mark.parametrize("cls", CONFIGS, ids=lambda c: c.__qualname__)
def test_json_round_trip_to_an_equal_object(cls):
    cfg = cls.from_dict(_example(cls))
    text = cfg.to_json()
    data = json.loads(text)
    assert list(data) == sorted(data)
    again = cls.from_json(text)
    assert again == cfg and type(again) is type(cfg)
    assert cls.from_dict(data) == cfg and again.to_json() == text
    assert cfg.replace() == cfg


@pytest.mark.parametrize("cls", CONFIGS, ids=lambda c: c.__qualname__)
def test_unknown_key_is_refused_naming_the_key_and_the_class(cls):
    cfg = cls.from_dict(_example(cls))
    label = re.escape(cls._label())
    with pytest.raises(cls.error, match=rf"{label} got unknown keys \['no_such_key'\]; valid keys: \[.+\]"):
        cls.from_dict({**cfg.to_dict(), "no_such_key": 1})
    if cls.required_fields():
        with pytest.raises(cls.error, match=rf"{label} needs \[.*\] \(no default\)"):
            cls.from_dict({})
    field = cls.field_names()[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(cfg, field, getattr(cfg, field))


def test_nested_method_config_is_rebuilt_by_method_and_checked():
    from bbt_mp2.errors import ConfigError, UnknownNameError
    from bbt_mp2.methods import MP2DeepConfig, RunConfig

    data = EXAMPLES["RunConfig"]
    cfg = RunConfig.from_dict(data)
    assert isinstance(cfg.method_config, MP2DeepConfig) and cfg.method_config.popsize == 4
    assert json.loads(cfg.to_json())["method_config"]["budget"] == 40
    with pytest.raises(ConfigError, match=r"MP2DeepConfig \(method 'mp2-deep'\) got unknown keys \['sigmaa'\]"):
        RunConfig.from_dict({**data, "method_config": {"sigmaa": 1.0}})
    with pytest.raises(UnknownNameError, match="unknown method 'mp3'"):
        RunConfig.from_dict({**data, "method": "mp3"})
    with pytest.raises(ConfigError, match="method 'bbt' needs a BBTConfig, got MP2DeepConfig"):
        cfg.replace(method="bbt", method_config=cfg.method_config)
    with pytest.raises(ConfigError, match=r"RunConfig.max_length must be an integer >= 1 or None; got 0"):
        cfg.replace(max_length=0)


def test_downstream_config_checks_its_values():
    from bbt_mp2.errors import ConfigError
    from bbt_mp2.pretrain import DownstreamConfig

    data = EXAMPLES["DownstreamConfig"]
    assert DownstreamConfig.parse_value("lr_prompt", "1e-2") == 0.01
    with pytest.raises(ConfigError, match=r"stage1_steps must be in \[0, steps=10\]; got 11"):
        DownstreamConfig.from_dict({**data, "stage1_steps": 11})
    with pytest.raises(ConfigError, match=r"loss must be one of \['auto', 'option_ce', 'span_ce'\]; got 'hinge'"):
        DownstreamConfig.from_dict({**data, "loss": "hinge"})
    with pytest.raises(ConfigError, match=r"checkpoint must be a non-empty string; got ''"):
        DownstreamConfig.from_dict({**data, "checkpoint": ""})
