"""A pre-trained checkpoint is read unchanged by the black-box side: LocalBackend with the learned projection
scores exactly what the pre-training evaluation scores."""

from __future__ import annotations

import numpy as np
import torch

from bbt_mp2.checkpoint import load_checkpoint


def test_local_backend_reproduces_pretraining_scores(tmp_path, tiny_backbone, tiny_data, make_config):
    from bbt_mp2.backend import ProjectionSpec, PromptParam
    from bbt_mp2.local_backend import LocalBackend
    from bbt_mp2.pretrain import PretrainModel, pretrain, score_dataset
    from bbt_mp2.prompts import combined_z

    best = pretrain(make_config(steps=6, eval_every=6), tmp_path / "run", backbone=tiny_backbone,
                    task_data=tiny_data, device="cpu", progress=False)
    ckpt = load_checkpoint(best)
    model = PretrainModel.from_checkpoint(ckpt, tiny_backbone)
    dev = tiny_data[1].dev
    ours = score_dataset(tiny_backbone, model.head, dev, model.layer_prompts(1, "sigmoid").detach(), model.layers)
    backend = LocalBackend.from_checkpoint(tiny_backbone, best)
    ds = backend.register_encoded(dev, tiny_data[1].spec)
    param = PromptParam(layers=ckpt.config.layers, d=ckpt.config.d, n_tokens=ckpt.config.n_tokens,
                        projection=ProjectionSpec(kind="learned", checkpoint=str(best)))
    cand = combined_z(ckpt.router[1].numpy(), ckpt.z.numpy(), "sigmoid")
    pred = backend.predict(ds, param, cand, loss="option_ce")
    assert np.array_equal(pred.predicted, ours.predicted)
    assert np.allclose(pred.scores, ours.scores, atol=1e-4)
    assert torch.equal(ckpt.head_bias, torch.zeros(2))
