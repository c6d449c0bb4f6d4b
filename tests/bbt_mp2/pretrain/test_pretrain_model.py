"""Tests for bbt_mp2/pretrain/model.py: the differentiable prompted forward, gradient flow, checkpoint export."""

from __future__ import annotations

import pytest
import torch

from bbt_mp2.checkpoint import load_checkpoint, save_checkpoint
from bbt_mp2.errors import CheckpointError
from bbt_mp2.pretrain import PretrainModel, prompted_hidden, span_loss
from bbt_mp2.pretrain.data import batch_tensors, step_generator
from bbt_mp2.pretrain.model import freeze_backbone, head_linear


def _model(backbone, n_tasks=2, deep=True, seed=0):
    layers = tuple(range(backbone.n_layers)) if deep else (0,)
    return PretrainModel.build(n_tasks=n_tasks, layers=layers, n_modules=3, d=8, n_tokens=4, hidden=backbone.hidden,
                               seed=seed)


def test_zero_prompts_reproduce_the_stock_forward(tiny_backbone, tiny_data):
    b = batch_tensors(tiny_data[0].train, range(6))
    zero = torch.zeros(tiny_backbone.n_layers, 4, tiny_backbone.hidden)
    with torch.no_grad():
        ours = prompted_hidden(tiny_backbone, b["input_ids"], b["attention_mask"], b["token_type_ids"], zero,
                               range(tiny_backbone.n_layers))
        stock = tiny_backbone(b["input_ids"], b["attention_mask"], b["token_type_ids"])
    assert torch.allclose(ours, stock, atol=1e-6)


def test_prompt_is_added_only_at_placeholder_positions_of_its_layer(tiny_backbone, tiny_data):
    b = batch_tensors(tiny_data[0].train, range(2))
    bump = torch.zeros(1, 4, tiny_backbone.hidden)
    bump[0, 2, 0] = 5.0
    with torch.no_grad():
        h0 = tiny_backbone.embed(b["input_ids"], b["token_type_ids"])
        # prompt on the last layer only: compare with running the stock layers by hand
        last = tiny_backbone.n_layers - 1
        ext = tiny_backbone.extended_mask(b["attention_mask"], h0.dtype)
        h = h0
        for i in range(last):
            h = tiny_backbone.run_layer(i, h, ext)
        h = h.clone()
        h[:, 3, 0] += 5.0  # position 1 + 2
        want = tiny_backbone.run_layer(last, h, ext)
        got = prompted_hidden(tiny_backbone, b["input_ids"], b["attention_mask"], b["token_type_ids"], bump, (last,))
    assert torch.allclose(got, want, atol=1e-6)


def test_gradients_reach_routers_z_A_and_head_but_never_the_backbone(tiny_backbone, tiny_data):
    backbone = freeze_backbone(tiny_backbone)
    before = {k: v.clone() for k, v in backbone.state_dict().items()}
    model = _model(backbone)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    for step in range(3):
        b = batch_tensors(tiny_data[1].train, range(8 * step, 8 * step + 8))
        start, end = model(backbone, b, 1, generator=step_generator(0, step))
        loss = span_loss(start, end, b["start_positions"], b["end_positions"], b["attention_mask"])
        opt.zero_grad()
        loss.backward()
        p = model.prompt
        assert p.router.grad is not None and p.router.grad[1].abs().sum() > 0
        assert p.router.grad[0].abs().sum() == 0  # another task's router row gets nothing
        assert p.z.grad.abs().sum() > 0 and p.A.grad.abs().sum() > 0
        lin = head_linear(model.head)
        assert lin.weight.grad.abs().sum() > 0 and lin.bias.grad is None and not lin.bias.requires_grad
        opt.step()
    assert all(not q.requires_grad and q.grad is None for q in backbone.parameters())
    for k, v in backbone.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert torch.equal(head_linear(model.head).bias, torch.zeros(2))


def test_checkpoint_round_trip_is_exact(tiny_backbone, tmp_path):
    model = _model(tiny_backbone, n_tasks=3, seed=4)
    with torch.no_grad():
        model.prompt.router.normal_()
    ckpt = model.to_checkpoint(backbone=tiny_backbone, task_names=["a", "b", "c"], n_tokens=4, routing="binary",
                               meta={"step": 7})
    assert ckpt.config.embedding_hash == tiny_backbone.embedding_hash()
    assert ckpt.config.layers == tuple(range(tiny_backbone.n_layers))
    back = load_checkpoint(save_checkpoint(ckpt, tmp_path / "ck"))
    assert back.config == ckpt.config
    rebuilt = PretrainModel.from_checkpoint(back, tiny_backbone)
    for name, t in model.state_dict().items():
        assert torch.equal(rebuilt.state_dict()[name], t), name
    for task in range(3):
        for mode in ("sigmoid", "binary"):
            assert torch.equal(rebuilt.layer_prompts(task, mode), model.layer_prompts(task, mode))


def test_checkpoint_from_another_backbone_is_refused(tiny_backbone):
    from bbt_mp2.testing import build_tiny_backbone

    other = build_tiny_backbone("bert", n_layers=2, hidden=32, seed=1)
    ckpt = _model(tiny_backbone).to_checkpoint(backbone=tiny_backbone, task_names=["a", "b"], n_tokens=4,
                                               routing="sigmoid")
    with pytest.raises(CheckpointError, match="trained on backbone"):
        PretrainModel.from_checkpoint(ckpt, other)
