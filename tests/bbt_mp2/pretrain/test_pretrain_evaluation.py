"""Tests for bbt_mp2/pretrain/evaluation.py: option accuracy, span F1 decoding, controls."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bbt_mp2.pretrain import class_distribution, score_dataset
from bbt_mp2.pretrain.evaluation import DatasetScores, prediction_controls
from bbt_mp2.pretrain.model import PretrainModel


def test_option_scores_give_accuracy_and_controls(tiny_backbone, tiny_data):
    ds = tiny_data[0].dev
    model = PretrainModel.build(n_tasks=1, layers=(0,), n_modules=2, d=4, n_tokens=4, hidden=32, seed=0)
    prompts = model.layer_prompts(0, "sigmoid").detach()
    res = score_dataset(tiny_backbone, model.head, ds, prompts, (0,), batch_size=5)
    assert res.scores.shape == (len(ds), ds.n_options)
    assert np.array_equal(res.predicted, res.scores.argmax(1))
    assert res.metric == pytest.approx(float((res.predicted == ds.labels).mean()))
    full = score_dataset(tiny_backbone, model.head, ds, prompts, (0,), batch_size=len(ds))
    assert np.allclose(full.scores, res.scores, atol=1e-4)  # batching and per-batch trimming change nothing
    c = prediction_controls(res)
    assert sum(c["predicted_distribution"]) == pytest.approx(1.0) and c["n"] == len(ds)
    assert c["auc"] is None  # 4 options: no AUC


def test_binary_controls_report_auc():
    labels = np.array([0, 0, 1, 1])
    scores = np.array([[1.0, 0.0], [0.5, 0.2], [0.0, 1.0], [0.3, -0.5]])
    pred = scores.argmax(1)
    c = prediction_controls(DatasetScores(metric=0.75, loss=1.0, predicted=pred, labels=labels, scores=scores))
    assert c["predicted_distribution"] == [0.75, 0.25] and c["majority_fraction"] == 0.75
    assert c["auc"] == pytest.approx(0.75)  # option-1 margins: -1, -0.3 (neg) vs 1, -0.8 (pos): 3 of 4 pairs


def test_class_distribution():
    assert class_distribution(np.array([0, 0, 2, 0]), 3) == [0.75, 0.0, 0.25]


def test_span_tasks_are_decoded_and_scored_by_f1(tiny_backbone):
    from bbt_mp2.pretrain.data import encode_examples
    from bbt_mp2.tasks import get_task, load_split

    spec = get_task("cmrc2018")
    examples = [ex for ex in load_split("cmrc2018", "dev") if ex.answers][:6]
    ds = encode_examples(spec, examples, tiny_backbone, n_tokens=4, max_length=128)
    model = PretrainModel.build(n_tasks=1, layers=(0, 1), n_modules=2, d=4, n_tokens=4, hidden=32, seed=0)
    res = score_dataset(tiny_backbone, model.head, ds, torch.zeros(2, 4, 32), (0, 1))
    assert len(res.texts) == 6 and (res.predicted == -1).all() and 0.0 <= res.metric <= 1.0
    assert res.scores.shape == (6, 0) and prediction_controls(res)["predicted_distribution"] is None


def test_pretraining_dev_reports_each_tasks_own_metric_mrpc_f1(tiny_backbone, make_config):
    from bbt_mp2.pretrain import load_task_data
    from bbt_mp2.pretrain.trainer import evaluate_dev
    from bbt_mp2.tasks.metrics import binary_f1

    cfg = make_config(tasks=("mrpc", "mr"), deep=False)
    data = load_task_data(cfg.tasks, tiny_backbone, n_tokens=4, max_length=128, seed=3, dev_size=40, train_size=8)
    model = PretrainModel.build(n_tasks=2, layers=(0,), n_modules=2, d=4, n_tokens=4, hidden=32, seed=0)
    with torch.no_grad():
        model.head.linear.weight.normal_(0.0, 1.0, generator=torch.Generator().manual_seed(1))
    dev = evaluate_dev(model, tiny_backbone, data, cfg)
    res = score_dataset(tiny_backbone, model.head, data[0].dev, model.layer_prompts(0, cfg.eval_routing).detach(),
                        (0,))
    f1, acc = binary_f1(res.predicted, res.labels), float((res.predicted == res.labels).mean())
    assert f1 != pytest.approx(acc)  # the two metrics differ on this split, so the check below can fail
    assert dev["mrpc"] == pytest.approx(f1)
    assert dev["mr"] == pytest.approx(float((score_dataset(
        tiny_backbone, model.head, data[1].dev, model.layer_prompts(1, cfg.eval_routing).detach(), (0,)).predicted
        == data[1].dev.labels).mean()))
