"""Tests for bbt_mp2/pretrain/data.py: the task/batch sampler, and the relaxed-Bernoulli routing it feeds."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from bbt_mp2.errors import DataError, ResumeError, UnknownNameError
from bbt_mp2.pretrain import TaskBatchSampler, load_task_data
from bbt_mp2.pretrain.data import batch_tensors, step_generator


def test_sampler_is_a_pure_function_of_seed_and_cursors():
    a = TaskBatchSampler([10, 7], [0.5, 0.5], 4, seed=1)
    b = TaskBatchSampler([10, 7], [0.5, 0.5], 4, seed=1)
    draws_a = [a.draw(s) for s in range(20)]
    # b is resumed half-way from a's state
    for s in range(10):
        b.draw(s)
    c = TaskBatchSampler([10, 7], [0.5, 0.5], 4, seed=1)
    c.load_state_dict(b.state_dict())
    for s in range(10, 20):
        t, idx = c.draw(s)
        assert t == draws_a[s][0] and np.array_equal(idx, draws_a[s][1])


def test_each_pass_over_a_pool_covers_every_example_once():
    s = TaskBatchSampler([12], [1.0], 4, seed=0)
    seen = np.concatenate([s.draw(i)[1] for i in range(3)])
    assert sorted(seen.tolist()) == list(range(12))


def test_task_frequencies_follow_the_weights():
    s = TaskBatchSampler([5, 5, 5], [0.2, 0.6, 0.2], 1, seed=0)
    counts = np.bincount([s.task_at(i) for i in range(3000)], minlength=3) / 3000
    assert counts == pytest.approx([0.2, 0.6, 0.2], abs=0.04)


def test_sampler_state_from_another_run_is_refused():
    s = TaskBatchSampler([5, 5], [0.5, 0.5], 2, seed=0)
    other = TaskBatchSampler([5, 6], [0.5, 0.5], 2, seed=0)
    with pytest.raises(ResumeError, match="pool sizes"):
        s.load_state_dict(other.state_dict())


def test_relaxed_bernoulli_matches_its_closed_form():
    """One module with logit r against a module that is always on (logit 60, its sample is exactly 1), so the
    normalised weight w = s / (s + 1) gives back the relaxed-Bernoulli sample s = w / (1 - w).
    tau = 1: E[s] = c/(c-1) - r c/(c-1)^2 with c = e^r. Any tau: P(s <= x) = 1 - sigmoid(r - tau * logit(x))."""
    from bbt_mp2.prompts import routing_weights

    n = 200_000
    g = torch.Generator().manual_seed(0)
    for r in (-1.5, 0.7, 2.0):
        logits = torch.tensor([r, 60.0], dtype=torch.float64).expand(n, 2)
        w = routing_weights(logits, "relaxed_bernoulli", temperature=1.0, generator=g)[:, 0]
        s = w / (1 - w)
        c = math.exp(r)
        expected = c / (c - 1) - r * c / (c - 1) ** 2
        assert float(s.mean()) == pytest.approx(expected, abs=4e-3)
    for tau in (0.5, 2.0):
        r = 0.8
        logits = torch.tensor([r, 60.0], dtype=torch.float64).expand(n, 2)
        w = routing_weights(logits, "relaxed_bernoulli", temperature=tau, generator=g)[:, 0]
        s = (w / (1 - w)).numpy()
        for x in (0.2, 0.5, 0.9):
            cdf = 1 - 1 / (1 + math.exp(-(r - tau * math.log(x / (1 - x)))))
            assert float((s <= x).mean()) == pytest.approx(cdf, abs=5e-3)


def test_step_generator_is_deterministic():
    a = torch.rand(3, generator=step_generator(4, 10))
    assert torch.equal(a, torch.rand(3, generator=step_generator(4, 10)))
    assert not torch.equal(a, torch.rand(3, generator=step_generator(4, 11)))


def test_loaded_tasks_are_encoded_and_batches_trimmed(tiny_data):
    td = tiny_data[0]
    assert td.spec.name == "ag_news" and len(td.train) == 48 and len(td.dev) == 16
    b = batch_tensors(td.train, [0, 1, 2])
    width = int(td.train.attention_mask[[0, 1, 2]].sum(1).max())
    assert b["input_ids"].shape == (3, width) and b["option_spans"].shape[0] == 3


def test_unknown_task_is_refused(tiny_backbone):
    with pytest.raises(UnknownNameError, match="no_such_task"):
        load_task_data(["no_such_task"], tiny_backbone, n_tokens=4, max_length=128, seed=0)


def test_task_without_labelled_pool_is_refused(tiny_backbone, monkeypatch):
    import dataclasses

    import bbt_mp2.tasks as tasks

    real = tasks.load_split

    def unlabelled(task, split, data_root=None):
        return [dataclasses.replace(ex, label=None) for ex in real(task, split, data_root)[:5]]

    monkeypatch.setattr(tasks, "load_split", unlabelled)
    with pytest.raises(DataError, match="'trec' has no labelled 'train' examples"):
        load_task_data(["trec"], tiny_backbone, n_tokens=4, max_length=128, seed=0)
