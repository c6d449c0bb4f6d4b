"""One routing rule: pre-training evaluation and black-box MP2 tuning score the same prompt for the same router.

The router rows below include a layer with no active module under binary routing (all logits <= 0) and the
all-zero router MP2 tuning starts from.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bbt_mp2.backend import ProjectionSpec, PromptParam
from bbt_mp2.checkpoint import load_checkpoint, save_checkpoint
from bbt_mp2.methods import build_config, get_method
from bbt_mp2.methods.mp2.method import route
from bbt_mp2.prompts import routing_weights


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_backbone, tiny_data):
    from bbt_mp2.pretrain import PretrainModel

    model = PretrainModel.build(n_tasks=2, layers=(0, 1), n_modules=3, d=8, n_tokens=4, hidden=32, seed=5)
    with torch.no_grad():
        model.prompt.z.mul_(3e3)  # modules and head large enough that the prompt moves the scores
        model.head.linear.weight.mul_(100.0)
        model.prompt.router.copy_(torch.tensor([
            [[-1.0, -2.0, -0.5], [0.7, -0.3, 1.2]],  # task 0: layer 0 has no active module under binary
            [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]],      # task 1: the untuned tuning start
        ]))
    ckpt = model.to_checkpoint(backbone=tiny_backbone, task_names=["ag_news", "mr"], n_tokens=4, routing="binary")
    path = tmp_path_factory.mktemp("ckpt") / "checkpoint"
    save_checkpoint(ckpt, path)
    return model, path


def test_numpy_and_torch_callers_share_one_rule():
    r = np.array([[-1.0, -2.0, -0.5], [0.0, 0.0, 0.0], [3.0, -3.0, 0.5]])
    b = route(r, "binary")
    np.testing.assert_allclose(b, routing_weights(torch.as_tensor(r), "binary").numpy())
    np.testing.assert_allclose(b[0], [0.0, 0.0, 1.0])  # no active module: its argmax module
    np.testing.assert_allclose(b[1], 1 / 3)  # all tied at the max: the tied modules share (the uniform start)
    np.testing.assert_allclose(b[2], [0.5, 0.0, 0.5])
    np.testing.assert_allclose(route(r, "sigmoid"), routing_weights(torch.as_tensor(r), "sigmoid").numpy())
    with pytest.raises(Exception, match="relaxed_bernoulli"):
        route(r, "relaxed_bernoulli")


@pytest.mark.parametrize("routing", ["sigmoid", "binary"])
@pytest.mark.parametrize("task", [0, 1])
def test_pretraining_evaluation_and_tuning_score_the_same_prompt(trained, tiny_backbone, tiny_data, routing, task):
    from bbt_mp2.local_backend import LocalBackend, checkpoint_id_of
    from bbt_mp2.pretrain import score_dataset

    model, path = trained
    dev = tiny_data[task].dev
    ours = score_dataset(tiny_backbone, model.head, dev, model.layer_prompts(task, routing).detach(), model.layers)
    cid = checkpoint_id_of(path)
    method = get_method("mp2-deep").method_cls(
        build_config("mp2-deep", overrides={"checkpoint": cid, "routing": routing}), seed=0)
    backend = LocalBackend.from_checkpoint(tiny_backbone, path)
    method.check(backend.info())
    method.attach(backend)
    cand = method.combine(load_checkpoint(path).router[task].double().numpy()[None])[0]
    param = PromptParam(layers=(0, 1), d=8, n_tokens=4, projection=ProjectionSpec(kind="learned", checkpoint=cid))
    pred = backend.predict(backend.register_encoded(dev, tiny_data[task].spec), param, cand, loss="option_ce")
    np.testing.assert_array_equal(pred.predicted, ours.predicted)
    np.testing.assert_allclose(pred.scores, ours.scores, atol=1e-4)
    zero = score_dataset(tiny_backbone, model.head, dev, torch.zeros(2, 4, 32), model.layers)
    assert not np.allclose(ours.scores, zero.scores, atol=1e-3)  # the routed prompt is not a zero prompt
