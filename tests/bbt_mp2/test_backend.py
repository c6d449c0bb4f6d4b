"""Tests for bbt_mp2/backend.py: parameterisation specs validate and round-trip."""

from __future__ import annotations

import pytest

from bbt_mp2.backend import ProjectionSpec, PromptParam
from bbt_mp2.errors import ConfigError


def test_prompt_param_round_trip():
    p = PromptParam(layers=(0, 2, 5), d=300, n_tokens=20, projection=ProjectionSpec(kind="uniform", seed=7))
    assert PromptParam.from_dict(p.to_dict()) == p
    raw = PromptParam(layers=(1,), projection=None)
    assert PromptParam.from_dict(raw.to_dict()) == raw


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(layers=()), "layers is empty"),
        (dict(layers=(2, 1)), "strictly increasing"),
        (dict(layers=(-1,)), "strictly increasing and >= 0"),
        (dict(d=0), "d and n_tokens must be > 0"),
    ],
)
def test_prompt_param_rejects_bad_values(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        PromptParam(**kwargs)


def test_projection_spec_rejects_bad_values():
    with pytest.raises(ConfigError, match="unknown; choose one of"):
        ProjectionSpec(kind="gaussian")
    with pytest.raises(ConfigError, match="needs checkpoint"):
        ProjectionSpec(kind="learned")
    with pytest.raises(ConfigError, match="alpha and sigma must be > 0"):
        ProjectionSpec(sigma=0)


def test_from_dict_rejects_unknown_keys():
    with pytest.raises(ConfigError, match="unknown keys \\['bogus'\\]"):
        PromptParam.from_dict({"layers": [0], "bogus": 1})


def test_prompt_param_head_and_projection_checkpoint_are_ids_that_round_trip():
    p = PromptParam(layers=(0, 1), d=16, n_tokens=5, head="english-deep",
                    projection=ProjectionSpec(kind="learned", checkpoint="english-deep"))
    assert PromptParam.from_dict(p.to_dict()) == p
    assert PromptParam.from_dict({"layers": [0], "d": 8, "n_tokens": 4}).head is None
    with pytest.raises(ConfigError, match="ProjectionSpec got unknown keys \\['path'\\]"):
        PromptParam.from_dict({"layers": [0], "projection": {"kind": "normal", "path": "/x"}})


def test_model_info_is_plain_json_data():
    import json

    from bbt_mp2.backend import ModelInfo

    info = ModelInfo(name="m", n_layers=2, hidden=8, embedding_hash="ab", dtype="bfloat16",
                     checkpoints={"c": {"layers": (0, 1), "sha256": "f" * 64}}, default_checkpoint="c")
    data = json.loads(json.dumps(info.to_dict()))
    assert data["checkpoints"]["c"]["layers"] == [0, 1]
    assert ModelInfo.from_dict(data).to_dict() == data
    with pytest.raises(ConfigError, match="unknown keys \\['url'\\]"):
        ModelInfo.from_dict(dict(data, url="x"))
