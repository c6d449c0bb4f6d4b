"""Real-model test of pre-training: a few steps on MiniLM with real upstream data lower the span loss."""

from __future__ import annotations

import json

import pytest

from bbt_mp2.checkpoint import load_checkpoint
from bbt_mp2.pretrain import PretrainConfig, pretrain


@pytest.mark.slow  # real MiniLM pre-training steps
def test_a_few_real_steps_lower_the_loss(tmp_path):
    from bbt_mp2.backbones import load_backbone

    backbone = load_backbone("minilm")
    # one batch = the whole 16-example pool, so every step sees the same examples and the loss must fall
    cfg = PretrainConfig(seed=0, tasks=("mr",), deep=True, steps=8, batch_size=16, n_tokens=5, max_length=64,
                         lr_router=1e-2, lr_prompt=1e-2, train_size=16, dev_size=16, eval_every=0, log_every=1,
                         save_every=8)
    best = pretrain(cfg, tmp_path / "run", backbone=backbone, device="cpu", progress=False)
    losses = [json.loads(x)["loss"] for x in (tmp_path / "run" / "history.jsonl").read_text().splitlines()
              if '"train"' in x]
    assert len(losses) == 8
    assert losses[-1] < 0.8 * losses[0], losses
    ckpt = load_checkpoint(best)
    assert ckpt.config.backbone == backbone.name and ckpt.config.layers == tuple(range(6))
    assert ckpt.config.embedding_hash == backbone.embedding_hash()
