"""Tests of optimizers/cma.py: pycma wiring, seeding through our generator, bounds, x0, config checks."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from optimizers import CMA, CMAConfig
from optimizers.errors import ConfigError, ResumeError


def test_samples_are_drawn_from_our_generator():
    """The first ask consumes exactly popsize x dim normals of default_rng(seed), nothing else."""
    opt = CMA(CMAConfig(seed=17, sigma0=0.3, popsize=6, x0=(0.5, -0.25, 1.0)), dim=3)
    opt.ask()
    reference = np.random.default_rng(17)
    reference.standard_normal((6, 3))
    assert opt._rng.bit_generator.state == reference.bit_generator.state


def test_global_numpy_seed_does_not_change_the_samples():
    np.random.seed(1)
    a = CMA(CMAConfig(seed=2, sigma0=1.0), dim=5).ask()
    np.random.seed(999)
    b = CMA(CMAConfig(seed=2, sigma0=1.0), dim=5).ask()
    assert np.array_equal(a, b)


def test_bounds_keep_every_asked_point_in_the_box():
    opt = CMA(CMAConfig(seed=0, sigma0=10.0, popsize=30, bounds=1.0), dim=4)
    for _ in range(5):
        X = opt.ask()
        assert X.shape == (30, 4) and np.all(np.abs(X) <= 1.0)
        opt.tell(X, ((X - 3.0) ** 2).sum(1))  # optimum outside the box: pushed to the face
    assert np.all(np.abs(opt.best[0]) <= 1.0)  # the mean lives in pycma's genotype space and may not


def test_unbounded_samples_leave_a_small_box():
    X = CMA(CMAConfig(seed=0, sigma0=10.0, popsize=30), dim=4).ask()
    assert np.abs(X).max() > 5.0


def test_mean_and_sigma_move_on_a_sphere():
    opt = CMA(CMAConfig(seed=0, sigma0=1.0, popsize=10), dim=4)
    for _ in range(40):
        X = opt.ask()
        opt.tell(X, ((X - 2.0) ** 2).sum(1))
    assert np.allclose(opt.mean, 2.0, atol=1e-2)
    assert opt.sigma < 0.1


def test_stop_reports_pycma_termination_as_plain_types():
    opt = CMA(CMAConfig(seed=0, sigma0=1.0, popsize=6), dim=2)
    assert opt.stop() == {}
    while not opt.stop() and opt.n_generations < 2000:
        X = opt.ask()
        opt.tell(X, (X**2).sum(1))
    reasons = opt.stop()
    assert reasons and opt.n_generations < 2000
    json.dumps(reasons)


def test_pycma_writes_no_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    opt = CMA(CMAConfig(seed=0, sigma0=1.0), dim=3)
    for _ in range(3):
        X = opt.ask()
        opt.tell(X, (X**2).sum(1))
    assert os.listdir(tmp_path) == []


def test_state_is_small_and_json():
    opt = CMA(CMAConfig(seed=0, sigma0=1.0), dim=300)
    for _ in range(3):
        X = opt.ask()
        opt.tell(X, (X**2).sum(1))
    text = json.dumps(opt.state_dict())
    assert len(text) < 200_000  # losses + mean + incumbent, never the 300 x 300 covariance


def test_tampered_state_is_refused():
    opt = CMA(CMAConfig(seed=0, sigma0=1.0, popsize=4), dim=3)
    for _ in range(3):
        X = opt.ask()
        opt.tell(X, (X**2).sum(1))
    state = json.loads(json.dumps(opt.state_dict()))
    state["state"]["losses"][1] = [-v for v in state["state"]["losses"][1]]  # reverses the ranking
    with pytest.raises(ResumeError, match="did not reproduce"):
        CMA(CMAConfig(seed=0, sigma0=1.0, popsize=4), dim=3).load_state_dict(state)
    state = opt.state_dict()
    state["state"]["cma_version"] = "0.0.1"
    with pytest.raises(ResumeError, match="cma '0.0.1'"):
        CMA(CMAConfig(seed=0, sigma0=1.0, popsize=4), dim=3).load_state_dict(state)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"sigma0": 0.0}, r"CMAConfig.sigma0 must be a positive finite number; got 0.0"),
        ({"sigma0": float("nan")}, r"CMAConfig.sigma0 must be a positive finite number"),
        ({"popsize": 1}, r"CMAConfig.popsize must be an integer >= 2; got 1"),
        ({"popsize": 2.5}, r"CMAConfig.popsize must be an integer"),
        ({"bounds": -1.0}, r"CMAConfig.bounds must be a positive finite number or None"),
        ({"x0": (0.0, float("inf"))}, r"CMAConfig.x0 must be a non-empty sequence of finite floats"),
        ({"x0": (6.0, 0.0), "bounds": 5.0}, r"x0 lies outside the box \[-5.0, 5.0\]"),
        ({"seed": -1}, r"CMAConfig.seed must be an integer >= 0; got -1"),
        ({"seed": 1.5}, r"CMAConfig.seed must be an integer"),
    ],
)
def test_bad_config_values_raise(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        CMAConfig(**{"seed": 0, **kwargs})


def test_seed_is_required_and_x0_must_match_dim():
    with pytest.raises(TypeError):
        CMAConfig()  # type: ignore[call-arg]
    with pytest.raises(ConfigError, match="x0 has 2 entries; expected dim=3"):
        CMA(CMAConfig(seed=0, x0=(0.0, 0.0)), dim=3)
    with pytest.raises(ConfigError, match="dim must be a positive integer"):
        CMA(CMAConfig(seed=0), dim=0)


def test_config_round_trip_and_unknown_keys():
    cfg = CMAConfig(seed=3, sigma0=0.5, x0=[1.0, 2.0], bounds=5)
    assert cfg.x0 == (1.0, 2.0) and isinstance(cfg.bounds, float)
    data = json.loads(json.dumps(cfg.to_dict()))
    assert list(data) == sorted(data)
    assert CMAConfig.from_dict(data) == cfg
    with pytest.raises(ConfigError, match=r"CMAConfig got unknown keys \['sigma'\]; valid keys: "):
        CMAConfig.from_dict({**data, "sigma": 1.0})
    with pytest.raises(ConfigError, match=r"CMAConfig needs \['seed'\] \(no default\)"):
        CMAConfig.from_dict({"sigma0": 1.0})
