"""Tests for bbt_mp2/methods/runner.py over a fake backend: budgets, dev selection, run directory, resume."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bbt_mp2.errors import ConfigError, ResumeError, ShapeError
from bbt_mp2.methods import RunConfig, build_config, run_method

SMALL = {
    "bbt": dict(d=8, n_tokens=2, popsize=4, budget=40, eval_every=8),
    "bbtv2": dict(d=6, n_tokens=2, popsize=4, budget=50, eval_every=8),
}


def make_config(method="bbt", seed=3, **overrides):
    values = {**SMALL.get(method, {}), **overrides}
    return RunConfig(task="fake", method=method, seed=seed, method_config=build_config(method, overrides=values))


def run(backend, split, task, out, config=None, **kw):
    return run_method(config or make_config(), backend, split, str(out), task_spec=task, **kw)


def history(out):
    return [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()]


def test_budget_accounting_counts_candidates(fake_backend, split, fake_task, tmp_path):
    backend = fake_backend()
    cfg = make_config(budget=42)  # not a multiple of popsize 4: 10 whole generations fit
    res = run(backend, split, fake_task, tmp_path, cfg)
    hist = history(tmp_path)
    assert res.calls == 40 and res.budget == 42
    assert [h["calls"] for h in hist] == list(range(4, 41, 4))
    # the backend saw exactly the train calls + the dev calls + the controls (start on train, 2 test predictions)
    assert backend.n_calls == res.calls + res.dev_calls + 1
    assert res.control_calls == 3
    # dev every 8 calls (+ the start): calls 8, 16, ..., 40, each at most once
    dev_at = [h["calls"] for h in hist if h["dev_metric"] is not None]
    assert dev_at == [8, 16, 24, 32, 40]
    assert res.dev_calls <= 1 + len(dev_at)


def test_budget_below_one_generation_refused_before_work(fake_backend, split, fake_task, tmp_path):
    backend = fake_backend()
    with pytest.raises(ConfigError, match="smaller than one generation.*at least 4"):
        run(backend, split, fake_task, tmp_path / "r", make_config(budget=3))
    assert backend.registered == 0 and backend.requests == 0
    assert not (tmp_path / "r").exists()


def test_dev_selection_is_best_metric_then_lowest_loss_and_saved(fake_backend, split, fake_task, tmp_path):
    res = run(fake_backend(), split, fake_task, tmp_path, make_config(budget=80))
    hist = history(tmp_path)
    devs = [(h["calls"], h["dev_metric"], h["dev_loss"]) for h in hist if h["dev_metric"] is not None]
    best = max([res.dev_before] + [m for _, m, _ in devs])
    assert res.dev_after == pytest.approx(best)
    assert res.dev_after >= res.dev_before
    if res.dev_after > res.dev_before:  # among the best dev metrics, the lowest dev loss (first on equal loss)
        calls, _, loss = min((d for d in devs if d[1] == best), key=lambda d: (d[2], d[0]))
        assert res.tuned["selected_at_calls"] == calls and res.tuned["dev_loss"] == pytest.approx(loss)
    # best_params.npy is what the result was tested with: re-score it on test through the fake
    best_params = np.load(tmp_path / "best_params.npy")
    assert best_params.shape == (1, 8)
    assert res.best_train_loss < res.start["train_loss"]


def test_run_directory_contents(fake_backend, split, fake_task, tmp_path):
    res = run(fake_backend(), split, fake_task, tmp_path, make_config(seed=5))
    for name in ("config.json", "history.jsonl", "state.json", "best_params.npy", "result.json", "curve.png"):
        assert (tmp_path / name).stat().st_size > 0, name
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["run"]["seed"] == 5 and config["run"]["method"] == "bbt"
    assert set(config["seeds"]) >= {"projection", "stage0"} and "numpy" in config["versions"]
    result = json.loads((tmp_path / "result.json").read_text())
    for key in ("start", "tuned"):
        test = result[key]["test"]
        assert sum(test["predicted_distribution"]) == pytest.approx(1.0)
        assert 0.0 <= test["auc"] <= 1.0
        assert test["n"] == len(split.test)
    assert result["tuned"]["test"]["metric"] == pytest.approx(res.test_after)
    assert (tmp_path / "curve.png").read_bytes()[:4] == b"\x89PNG"


def test_same_seed_same_first_generation(fake_backend, split, fake_task, tmp_path):
    a = history_of_run(fake_backend, split, fake_task, tmp_path / "a", seed=7)
    b = history_of_run(fake_backend, split, fake_task, tmp_path / "b", seed=7)
    c = history_of_run(fake_backend, split, fake_task, tmp_path / "c", seed=8)
    assert a[0]["loss_mean"] == b[0]["loss_mean"]
    assert a[0]["loss_mean"] != c[0]["loss_mean"]


def history_of_run(fake_backend, split, fake_task, out, seed):
    run(fake_backend(), split, fake_task, out, make_config(seed=seed, budget=8))
    return history(out)


def _strip(result: dict) -> dict:
    return {k: v for k, v in result.items() if k not in ("wall_time", "out_dir")}


@pytest.mark.parametrize("method", ["bbt", "bbtv2"])
def test_resume_after_backend_failure_equals_uninterrupted(method, fake_backend, split, fake_task, tmp_path):
    cfg = make_config(method)
    full = run(fake_backend(), split, fake_task, tmp_path / "full", cfg)
    with pytest.raises(RuntimeError, match="killed"):
        run(fake_backend(fail_after=7), split, fake_task, tmp_path / "cut", cfg)
    assert (tmp_path / "cut" / "state.json").exists() and not (tmp_path / "cut" / "result.json").exists()
    resumed = run(fake_backend(), split, fake_task, tmp_path / "cut", cfg, resume=True)
    assert _strip(resumed.to_dict()) == _strip(full.to_dict())
    np.testing.assert_array_equal(np.load(tmp_path / "cut" / "best_params.npy"),
                                  np.load(tmp_path / "full" / "best_params.npy"))
    strip_time = [{k: v for k, v in h.items() if k != "wall_time"} for h in history(tmp_path / "cut")]
    assert strip_time == [{k: v for k, v in h.items() if k != "wall_time"} for h in history(tmp_path / "full")]


def test_resume_after_callback_kill_equals_uninterrupted(fake_backend, split, fake_task, tmp_path):
    cfg = make_config()
    full = run(fake_backend(), split, fake_task, tmp_path / "full", cfg)

    def kill(event):
        if event["calls"] == 20:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(fake_backend(), split, fake_task, tmp_path / "cut", cfg, callbacks=[kill])
    assert len(history(tmp_path / "cut")) == 5  # at most the generation in flight is lost
    backend = fake_backend()
    resumed = run(backend, split, fake_task, tmp_path / "cut", cfg, resume=True)
    assert _strip(resumed.to_dict()) == _strip(full.to_dict())
    assert backend.n_calls < fake_backend_total(full)  # the resumed session did not redo the first 20 calls


def fake_backend_total(result) -> int:
    return result.calls + result.dev_calls + 1


def test_resume_rules(fake_backend, split, fake_task, tmp_path):
    run(fake_backend(), split, fake_task, tmp_path, make_config())
    with pytest.raises(ResumeError, match="already holds a run.*--resume"):
        run(fake_backend(), split, fake_task, tmp_path, make_config())
    with pytest.raises(ResumeError, match="method_config.*sigma.*saved 1.0, now 0.3"):
        run(fake_backend(), split, fake_task, tmp_path, make_config(sigma=0.3), resume=True)
    with pytest.raises(ResumeError, match="seed"):
        run(fake_backend(), split, fake_task, tmp_path, make_config(seed=4), resume=True)
    backend = fake_backend()
    again = run(backend, split, fake_task, tmp_path, make_config(), resume=True)  # finished: nothing to do
    assert backend.requests == 0 and again.calls == 40


class RandomSearch:
    """A user optimizer following the protocol (ask/tell/stop/best/state_dict/load_state_dict)."""

    def __init__(self, dim, seed, popsize=5, scale=1.0):
        self.dim, self.popsize, self.scale = dim, popsize, scale
        self.rng = np.random.default_rng(seed)
        self.best_x, self.best_loss = np.zeros(dim), np.inf

    def ask(self):
        return self.best_x + self.scale * self.rng.normal(size=(self.popsize, self.dim))

    def tell(self, X, losses):
        i = int(np.argmin(losses))
        if losses[i] < self.best_loss:
            self.best_x, self.best_loss = X[i].copy(), float(losses[i])

    def stop(self):
        return {}

    @property
    def best(self):
        return self.best_x, self.best_loss

    def state_dict(self):
        return {"rng": self.rng.bit_generator.state, "x": self.best_x.copy(), "loss": self.best_loss}

    def load_state_dict(self, state):
        self.rng.bit_generator.state = state["rng"]
        self.best_x, self.best_loss = state["x"].copy(), state["loss"]


def test_user_optimizer(fake_backend, split, fake_task, tmp_path):
    res = run(fake_backend(), split, fake_task, tmp_path / "a", make_config(budget=30),
              optimizer=RandomSearch(8, seed=0))
    assert res.calls == 30
    assert [h["calls"] for h in history(tmp_path / "a")] == [5, 10, 15, 20, 25, 30]
    backend = fake_backend()
    with pytest.raises(ShapeError, match="needs P x 8"):
        run(backend, split, fake_task, tmp_path / "b", make_config(), optimizer=RandomSearch(7, seed=0))
    assert backend.registered == 0 and backend.requests == 0
    with pytest.raises(ConfigError, match="more than the budget"):
        run(fake_backend(), split, fake_task, tmp_path / "c", make_config(budget=4), optimizer=RandomSearch(8, 0))


class ConstantDevBackend:
    """The fake backend with a dev metric that never moves (32-example dev accuracy stuck at 0.5), while the dev
    loss still follows the candidates; records every dev population."""

    def __init__(self, fake_backend):  # noqa: ANN001
        self.inner = fake_backend()
        self.order: list[str] = []
        self.dev_populations: list[np.ndarray] = []
        self.train_populations: list[np.ndarray] = []

    def __getattr__(self, name):  # noqa: ANN001, ANN204
        return getattr(self.inner, name)

    def register(self, task, examples, **kw):  # noqa: ANN001, ANN201
        key = self.inner.register(task, examples, **kw)
        self.order.append(key)
        return key

    def evaluate(self, dataset_id, param, population, *, loss="auto"):  # noqa: ANN001, ANN201
        res = self.inner.evaluate(dataset_id, param, population, loss=loss)
        if dataset_id == self.order[1]:
            self.dev_populations.append(np.array(population))
            res.metric[:] = 0.5
        elif dataset_id == self.order[0]:
            self.train_populations.append(np.array(population))
        return res


def test_selection_metric_breaks_dev_ties_by_dev_loss(fake_backend, split, fake_task, tmp_path):
    backend = ConstantDevBackend(fake_backend)
    res = run(backend, split, fake_task, tmp_path, make_config(budget=80))
    hist = history(tmp_path)
    dev_losses = [h["dev_loss"] for h in hist if h["dev_metric"] is not None]
    assert res.selection == "metric" and json.loads((tmp_path / "result.json").read_text())["selection"] == "metric"
    assert res.tuned["stage"] != "start"  # the constant dev metric no longer keeps the untuned start
    assert res.tuned["dev_loss"] == pytest.approx(min(dev_losses))
    assert res.tuned["dev_loss"] < res.start["dev_loss"]
    assert res.dev_after == res.dev_before == 0.5


def test_selection_loss_picks_the_lowest_dev_loss(fake_backend, split, fake_task, tmp_path):
    res = run(fake_backend(), split, fake_task, tmp_path, make_config(budget=80, selection="loss"))
    dev_losses = [h["dev_loss"] for h in history(tmp_path) if h["dev_metric"] is not None]
    assert res.selection == "loss"
    assert res.tuned["dev_loss"] == pytest.approx(min([res.start["dev_loss"], *dev_losses]))


def test_selection_current_scores_the_candidate_at_the_period(fake_backend, split, fake_task, tmp_path):
    backend = ConstantDevBackend(fake_backend)
    res = run(backend, split, fake_task, tmp_path, make_config(budget=40, eval_every=8, selection="current"))
    # popsize 4, eval_every 8: the last candidate of every second generation, then nothing new at the stage end
    devs = backend.dev_populations[1:]  # [0] is the untuned start
    trains = backend.train_populations[1:]
    assert len(devs) == 5
    for k, pop in enumerate(devs):
        np.testing.assert_array_equal(pop[0], trains[2 * k + 1][-1])
    assert res.tuned["stage"] == "start"  # strict improvement only, as the reference code


def test_unknown_selection_refused():
    with pytest.raises(ConfigError, match="selection 'best' is unknown"):
        make_config(selection="best")


class LengthBackend:
    """The fake backend announcing 40 positions and reporting what registration truncated."""

    def __init__(self, fake_backend):  # noqa: ANN001
        self.inner = fake_backend()
        self.lengths: list[int] = []

    def __getattr__(self, name):  # noqa: ANN001, ANN204
        return getattr(self.inner, name)

    def info(self):  # noqa: ANN201
        from dataclasses import replace

        return replace(self.inner.info(), max_positions=40)

    def register(self, task, examples, *, n_tokens, max_length):  # noqa: ANN001, ANN201
        self.lengths.append(max_length)
        return self.inner.register(task, examples, n_tokens=n_tokens, max_length=max_length)

    def dataset_stats(self, dataset_id):  # noqa: ANN001, ANN201
        n = len(self.inner.datasets[dataset_id]["y"])
        return {"n": n, "max_length": self.lengths[-1], "length": 40, "n_truncated": 3, "n_answer_lost": 1}


def test_max_length_defaults_to_the_backbone_positions_and_truncation_is_reported(fake_backend, split, fake_task,
                                                                                   tmp_path, caplog):
    backend = LengthBackend(fake_backend)
    cfg = RunConfig(task="fake", method="bbt", seed=3, method_config=build_config("bbt", overrides=SMALL["bbt"]))
    assert cfg.max_length is None
    with caplog.at_level("INFO"):
        run(backend, split, fake_task, tmp_path, cfg)
    assert backend.lengths == [40, 40, 40]  # min(reference 512, the backbone's 40 positions)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["run"]["max_length"] == 40
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["encoding"]["train"] == {"n": 24, "max_length": 40, "length": 40, "n_truncated": 3,
                                           "n_answer_lost": 1}
    assert set(result["encoding"]) == {"train", "dev", "test"}
    assert "truncated the input text of 3 of 24" in caplog.text and "lost every gold answer" in caplog.text
