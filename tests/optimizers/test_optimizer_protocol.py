"""Registry-wide tests of optimizers/base.py: convergence, reproducibility, exact resume and input checks."""

from __future__ import annotations

import json

import numpy as np
import pytest

from optimizers import Optimizer, OptimizerStateError, optimizer_names
from optimizers.errors import ResumeError, ShapeError

NAMES = optimizer_names()
NEVERGRAD = ["ng:TBPSA", "ng:DiagonalCMA"]  # the adapter follows the same contract (NGOpt: test_nevergrad.py)
CONTRACT = NAMES + NEVERGRAD

# generations, and the largest acceptable (true loss of best) / (median loss of a uniform point in [-5, 5]^D)
BUDGET = {"cma": 60, "dc-cma": 60, "random": 50, "bo-ucb": 14}
THRESHOLD = {
    "cma": {"sphere": 1e-5, "rotated_ellipsoid": 1e-3, "noisy": 1e-2},
    "dc-cma": {"sphere": 1e-5, "rotated_ellipsoid": 1e-2, "noisy": 1e-2},
    "random": {"sphere": 0.3, "rotated_ellipsoid": 0.1, "noisy": 0.3},
    "bo-ucb": {"sphere": 0.1, "rotated_ellipsoid": 0.3, "noisy": 0.1},
}


SMALL_DESIGN = {"bo-ucb": {"n_init": 2}}  # reach the GP steps quickly where only determinism is checked


def _typical(f, dim: int) -> float:
    return float(np.median(f(np.random.default_rng(0).uniform(-5, 5, (200, dim)))))


def test_every_expected_name_is_registered():
    assert set(NAMES) >= {"cma", "dc-cma", "bo-ucb", "random"}


@pytest.mark.parametrize("objective", ["sphere", "rotated_ellipsoid", "noisy"])
@pytest.mark.parametrize("name", NAMES)
def test_drives_objective_towards_optimum(kit, name, objective):
    true = kit.rotated_ellipsoid if objective == "rotated_ellipsoid" else kit.sphere
    f = kit.make_noisy_sphere() if objective == "noisy" else true
    opt = kit.build(name, seed=0)
    asked = kit.run(opt, f, BUDGET[name])
    x_best, loss_best = opt.best
    ratio = float(true(x_best[None])[0]) / _typical(true, kit.DIM)
    assert ratio < THRESHOLD[name][objective], f"{name} on {objective}: ratio {ratio:.3g}"
    first = true(asked[0])
    assert float(true(x_best[None])[0]) < float(np.min(first)), "no improvement over the first generation"
    assert opt.n_evals == sum(len(X) for X in asked) and opt.n_generations == BUDGET[name]
    if objective != "noisy":
        assert loss_best == pytest.approx(float(true(x_best[None])[0]))
    if name == "bo-ucb":  # the GP-guided points beat the random design they started from
        n_init = kit.FAST_OPTIONS[name]["n_init"]
        losses = np.concatenate([true(X) for X in asked])
        factor = 0.5 if objective == "sphere" else 1.0
        assert losses[n_init:].min() < factor * losses[:n_init].min()


@pytest.mark.parametrize("name", CONTRACT)
def test_same_seed_same_trajectory_other_seed_differs(kit, name):
    small = SMALL_DESIGN.get(name, {})
    a = kit.run(kit.build(name, seed=3, **small), kit.sphere, 4)
    b = kit.run(kit.build(name, seed=3, **small), kit.sphere, 4)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    c = kit.build(name, seed=4, **small).ask()
    assert not np.array_equal(a[0], c)


@pytest.mark.parametrize("name", CONTRACT)
def test_does_not_touch_numpy_global_rng(kit, name):
    before = np.random.get_state()[1].copy()
    kit.run(kit.build(name, seed=0), kit.sphere, 2)
    assert np.array_equal(np.random.get_state()[1], before)


@pytest.mark.parametrize("pending", [False, True], ids=["between-generations", "after-ask"])
@pytest.mark.parametrize("name", CONTRACT)
def test_resume_from_json_continues_exactly(kit, name, pending):
    small = SMALL_DESIGN.get(name, {})
    first, more = (3, 2) if name == "bo-ucb" else (5, 6)  # BO: 1 model step before the save, 2 after
    f = kit.make_noisy_sphere(seed=11)
    original = kit.build(name, seed=5, **small)
    kit.run(original, f, first)
    if pending:
        original.ask()
    state = json.loads(json.dumps(original.state_dict()))
    rest = kit.run(original, f, more)

    resumed = kit.build(name, seed=5, **small)
    resumed.load_state_dict(state)
    assert resumed.n_evals == state["n_evals"] and resumed.pending == pending
    g = kit.make_noisy_sphere(seed=11)
    g(np.zeros((state["n_evals"], kit.DIM)))  # advance the noise stream past the evaluations before the save
    rest2 = kit.run(resumed, g, more)
    assert len(rest) == len(rest2)
    assert all(np.array_equal(x, y) for x, y in zip(rest, rest2))
    assert resumed.best[1] == original.best[1]
    assert np.array_equal(resumed.best[0], original.best[0])
    assert resumed.n_evals == original.n_evals
    assert json.dumps(resumed.state_dict(), sort_keys=True) == json.dumps(original.state_dict(), sort_keys=True)


@pytest.mark.parametrize("name", CONTRACT)
def test_load_rejects_other_config_dim_or_optimizer(kit, name):
    opt = kit.build(name, seed=0)
    kit.run(opt, kit.sphere, 1)
    state = opt.state_dict()
    with pytest.raises(ResumeError, match="config differs.*seed"):
        kit.build(name, seed=1).load_state_dict(state)
    with pytest.raises(ResumeError, match="dim"):
        kit.build(name, seed=0, dim=kit.DIM + 2).load_state_dict(state)
    other = "random" if name != "random" else "cma"
    with pytest.raises(ResumeError, match=f"state is for optimizer '{name}'"):
        kit.build(other, seed=0).load_state_dict(state)
    with pytest.raises(ResumeError, match="lacks keys"):
        kit.build(name, seed=0).load_state_dict({"format": 1})


@pytest.mark.parametrize("name", CONTRACT)
def test_bad_input_raises_with_clear_messages(kit, name):
    opt = kit.build(name, seed=0)
    with pytest.raises(OptimizerStateError, match="before the first tell"):
        _ = opt.best
    with pytest.raises(OptimizerStateError, match="without a pending ask"):
        opt.tell(np.zeros((1, kit.DIM)), [0.0])
    X = opt.ask()
    assert np.array_equal(opt.ask(), X), "asking twice must return the pending population"
    P = X.shape[0]
    with pytest.raises(ShapeError, match=r"X has shape"):
        opt.tell(X[:, :-1], np.zeros(P))
    with pytest.raises(ShapeError, match=r"losses has shape"):
        opt.tell(X, np.zeros(P + 1))
    with pytest.raises(ShapeError, match=r"losses has shape"):
        opt.tell(X, np.zeros((P, 1)))
    with pytest.raises(ShapeError, match="NaN/inf at indices \\[0\\]"):
        opt.tell(X, np.r_[np.nan, np.zeros(P - 1)])
    with pytest.raises(ShapeError, match="NaN/inf"):
        opt.tell(X, np.r_[np.zeros(P - 1), np.inf])
    with pytest.raises(ShapeError, match="numeric array"):
        opt.tell(X, ["a"] * P)
    with pytest.raises(OptimizerStateError, match="differs from the population of the last ask"):
        opt.tell(X + 1e-9, np.zeros(P))
    opt.tell(X, np.arange(P, dtype=float))  # the failed calls changed nothing
    assert opt.n_evals == P and opt.best[1] == 0.0 and np.array_equal(opt.best[0], X[0])
    with pytest.raises(OptimizerStateError, match="without a pending ask"):
        opt.tell(X, np.zeros(P))


@pytest.mark.parametrize("name", CONTRACT)
def test_minimize_loop_respects_budget(kit, name):
    opt = kit.build(name, seed=0)
    budget = kit.FAST_OPTIONS["bo-ucb"]["n_init"] + 1 if name == "bo-ucb" else 45
    x, loss = opt.minimize(kit.sphere, max_evals=budget)
    assert opt.n_evals > budget - opt.ask().shape[0]  # stopped only because the next population would not fit
    assert opt.n_evals <= budget
    assert x.shape == (kit.DIM,) and loss == pytest.approx(float(kit.sphere(x[None])[0]))


def test_optimizer_is_abstract():
    with pytest.raises(TypeError):
        Optimizer(None, dim=2)  # type: ignore[abstract]
