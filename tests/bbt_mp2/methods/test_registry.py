"""Tests for bbt_mp2/methods/registry.py (and the config classes it registers): names, presets, round trips."""

from __future__ import annotations

import json

import pytest

from bbt_mp2.errors import ConfigError, UnknownNameError
from bbt_mp2.methods import build_config, config_from_dict, get_method, get_preset, method_names, parse_value
from bbt_mp2.methods.registry import register_method

EXPECTED = ["bbt", "bbtv2", "mp2-shallow", "mp2-deep", "mp2-router"]


def test_registered_names():
    assert method_names() == EXPECTED
    for name in EXPECTED:
        entry = get_method(name)
        assert entry.config_cls.method == name
        assert entry.method_cls.name == name


@pytest.mark.parametrize("method", EXPECTED)
@pytest.mark.parametrize("preset", ["reference", "paper"])
def test_config_json_round_trip(method, preset):
    cfg = build_config(method, preset)
    again = config_from_dict(method, json.loads(json.dumps(cfg.to_dict(), sort_keys=True)))
    assert again == cfg
    assert type(again) is type(cfg)


def test_unknown_names_listed():
    with pytest.raises(UnknownNameError, match="unknown method 'bbt3'.*bbtv2.*mp2-router"):
        get_method("bbt3")
    with pytest.raises(UnknownNameError, match="unknown preset 'fast'.*paper.*reference"):
        build_config("bbt", "fast")
    with pytest.raises(ConfigError, match=r"unknown keys \['sigmaa'\].*valid keys"):
        build_config("bbt", overrides={"sigmaa": 1.0})
    with pytest.raises(ConfigError, match="already registered"):
        register_method("bbt", get_method("bbt").config_cls, get_method("bbt").method_cls)


def test_presets_hold_the_documented_values():
    # values from /work/shared/reference/anchor-mpmp.md section 4 and the MP2 paper, Appendix A.2
    deep_ref, deep_paper = build_config("mp2-deep", "reference"), build_config("mp2-deep", "paper")
    assert (deep_ref.sigma, deep_ref.sigma_rest, deep_ref.bound) == (0.5, 0.1, 5.0)
    assert (deep_ref.budget_router, deep_ref.budget - deep_ref.budget_router) == (100, 2880)
    assert (deep_paper.sigma, deep_paper.sigma_rest, deep_paper.budget, deep_paper.budget_router) == (
        5e-2, 1e-2, 8000, 100)
    shallow = build_config("mp2-shallow", "reference")
    assert (shallow.budget_router, shallow.budget, shallow.sigma, shallow.bound) == (200, 8000, 0.1, None)
    assert build_config("mp2-shallow", "paper").routing == "binary"
    assert shallow.routing == "sigmoid" and shallow.kappa == 2.0 and shallow.n_init == 20
    assert shallow.router_bound == 5.0
    bbt = build_config("bbt")
    assert (bbt.d, bbt.popsize, bbt.budget, bbt.projection) == (500, 20, 8000, "normal")


def test_overrides_win_over_preset():
    cfg = build_config("mp2-deep", "paper", {"sigma": 0.3, "budget": 500})
    assert (cfg.sigma, cfg.budget, cfg.sigma_rest) == (0.3, 500, 1e-2)
    assert get_preset("paper", "mp2-deep")["sigma"] == 5e-2  # the preset itself is unchanged


@pytest.mark.parametrize(
    "method, values, match",
    [
        ("bbt", {"budget": 0}, r"BBTConfig \(method 'bbt'\).budget must be an integer >= 1; got 0"),
        ("bbt", {"loss": "hinge"}, "loss 'hinge' is unknown"),
        ("bbt", {"projection": "learned"}, "not a random projection"),
        ("bbtv2", {"sigma_rest": 0.0}, "sigma_rest must be a positive finite number"),
        ("mp2-shallow", {"budget_router": 8000}, "budget_router must be in"),
        ("mp2-deep", {"routing": "softmax"}, r"routing must be one of \['sigmoid', 'binary'\]; got 'softmax'"),
        ("mp2-router", {"n_init": 0}, "n_init"),
        ("bbt", {"popsize": 0}, "popsize must be an integer >= 1"),
        ("bbt", {"optimizer": ""}, "optimizer must be a non-empty string"),
        ("mp2-router", {"deep": "yes"}, "deep must be True, False or None"),
    ],
)
def test_invalid_values_rejected(method, values, match):
    with pytest.raises(ConfigError, match=match):
        build_config(method, overrides=values)


def test_parse_value_uses_field_types():
    cls = get_method("mp2-deep").config_cls
    assert parse_value(cls, "budget", "300") == 300
    assert parse_value(cls, "sigma", "5e-2") == pytest.approx(0.05)
    assert parse_value(cls, "bound", "none") is None
    assert parse_value(cls, "routing", "binary") == "binary"
    assert parse_value(get_method("mp2-router").config_cls, "deep", "true") is True
    with pytest.raises(ConfigError, match="does not parse"):
        parse_value(cls, "budget", "many")
    with pytest.raises(ConfigError, match="unknown setting 'budgett'"):
        parse_value(cls, "budgett", "1")
