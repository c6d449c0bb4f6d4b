"""Tests of optimizers/nevergrad.py beyond the registry-wide contract (test_optimizer_protocol.py covers seeding,
exact resume and input checks for ``ng:`` names): names, settings, progress, and pickle-free state."""

from __future__ import annotations

import json

import numpy as np
import pytest

from optimizers import NevergradConfig, make_optimizer, nevergrad_class
from optimizers.errors import ConfigError, OptimizerError, ResumeError, UnknownNameError


def _sphere(X: np.ndarray) -> np.ndarray:
    return ((X - 1.0) ** 2).sum(1)


def test_any_nevergrad_optimizer_by_name_is_one_cached_class():
    cls = nevergrad_class("ng:OnePlusOne")
    assert cls is nevergrad_class("OnePlusOne") and cls.name == "ng:OnePlusOne" and cls.ng_name == "OnePlusOne"
    assert cls.config_cls is NevergradConfig


def test_unknown_nevergrad_name_lists_similar_names():
    with pytest.raises(UnknownNameError, match=r"nevergrad has no optimizer 'TBPSAX'.*similar names: \[.*'TBPSA'"):
        make_optimizer("ng:TBPSAX", dim=2, seed=0)


def test_settings_reach_nevergrad_start_box_and_population():
    opt = make_optimizer("ng:DiagonalCMA", dim=3, seed=0, popsize=7, x0=[0.5, -0.5, 0.0], sigma0=1e-6, bounds=2.0)
    X = opt.ask()
    assert X.shape == (7, 3)
    np.testing.assert_allclose(X, np.tile([0.5, -0.5, 0.0], (7, 1)), atol=1e-3)  # tiny sigma: all at x0
    wide = make_optimizer("ng:TBPSA", dim=3, seed=0, popsize=50, sigma0=10.0, bounds=2.0).ask()
    assert np.all(np.abs(wide) <= 2.0)


def test_x0_outside_the_box_is_refused():
    assert make_optimizer("ng:TBPSA", dim=2, seed=0, x0=[2.0, 0.0], bounds=2.0).ask().shape == (20, 2)  # on the edge
    with pytest.raises(ConfigError, match=r"NevergradConfig.x0 must be inside the box \[-2.0, 2.0\]"):
        make_optimizer("ng:NGOpt", dim=2, seed=0, x0=[3.0, 0.0], bounds=2.0)
    with pytest.raises(ConfigError, match="x0 has 2 entries; expected dim=3"):
        make_optimizer("ng:NGOpt", dim=3, seed=0, x0=[0.0, 0.0])


def test_ngopt_improves_a_sphere():
    opt = make_optimizer("ng:NGOpt", dim=8, seed=0, popsize=20, budget=2000)
    first = None
    for _ in range(30):
        X = opt.ask()
        losses = _sphere(X)
        first = losses.min() if first is None else first
        opt.tell(X, losses)
    assert opt.best[1] < 0.2 * first


def test_state_is_plain_json_and_a_tampered_history_is_refused():
    opt = make_optimizer("ng:DiagonalCMA", dim=3, seed=1, popsize=6)
    for _ in range(3):
        X = opt.ask()
        opt.tell(X, _sphere(X))
    state = opt.state_dict()
    assert json.loads(json.dumps(state)) == state
    assert set(state["state"]) == {"losses", "asked_sha256", "nevergrad_version"}
    state["state"]["losses"][1] = [-v for v in state["state"]["losses"][1]]  # other ranks -> other trajectory
    with pytest.raises(ResumeError, match="did not reproduce the asked populations"):
        make_optimizer("ng:DiagonalCMA", dim=3, seed=1, popsize=6).load_state_dict(state)
    state["state"]["nevergrad_version"] = "0.0"
    with pytest.raises(ResumeError, match="saved with nevergrad '0.0'"):
        make_optimizer("ng:DiagonalCMA", dim=3, seed=1, popsize=6).load_state_dict(state)


def test_a_failure_inside_nevergrad_names_the_optimizer_and_the_fix():
    opt = make_optimizer("ng:NGOpt", dim=2, seed=0, popsize=4)  # NGOpt without a budget cannot choose
    with pytest.raises(OptimizerError, match=r"nevergrad optimizer 'NGOpt' .*failed in ask\(\).*set `budget`"):
        opt.ask()
