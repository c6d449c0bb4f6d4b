"""Tests for bbt_mp2/pretrain/trainer.py: a tiny run end to end, resume equivalence, run-directory errors."""

from __future__ import annotations

import json

import pytest
import torch

from bbt_mp2.checkpoint import load_checkpoint
from bbt_mp2.errors import ResumeError
from bbt_mp2.pretrain import pretrain


def _run(tmp, backbone, data, config, **kw):
    return pretrain(config, tmp, backbone=backbone, task_data=data, device="cpu", progress=False, **kw)


def test_tiny_run_writes_checkpoint_history_and_result(tmp_path, tiny_backbone, tiny_data, make_config):
    cfg = make_config()
    best = _run(tmp_path / "run", tiny_backbone, tiny_data, cfg)
    ckpt = load_checkpoint(best)
    assert ckpt.config.task_names == cfg.tasks and ckpt.config.layers == (0, 1)
    assert ckpt.router.shape == (2, 2, 3) and ckpt.A.shape == (2, 8, 4 * 32)
    assert ckpt.config.embedding_hash == tiny_backbone.embedding_hash()
    assert torch.equal(ckpt.head_bias, torch.zeros(2))
    hist = [json.loads(x) for x in (tmp_path / "run" / "history.jsonl").read_text().splitlines()]
    evals = [h for h in hist if h["event"] == "eval"]
    assert [h["step"] for h in evals] == [6, 12]
    assert [h["step"] for h in hist if h["event"] == "train"] == [2, 4, 6, 8, 10, 12]
    result = json.loads((tmp_path / "run" / "result.json").read_text())
    assert result["best_dev_mean"] == max(h["dev_mean"] for h in evals)
    assert ckpt.config.meta["step"] == result["best_step"]
    last = load_checkpoint(tmp_path / "run" / "last").config.meta
    assert last["step"] == 12 and last["dev_mean"] == evals[-1]["dev_mean"]


def test_resume_after_a_kill_gives_the_same_numbers(tmp_path, tiny_backbone, tiny_data, make_config):
    cfg = make_config()
    _run(tmp_path / "straight", tiny_backbone, tiny_data, cfg)
    # "kill" after step 7: the last state was saved at step 4, so steps 5..7 are lost and redone
    _run(tmp_path / "killed", tiny_backbone, tiny_data, cfg, stop_after=7)
    state = torch.load(tmp_path / "killed" / "state.pt", weights_only=True)
    assert state["step"] == 4
    _run(tmp_path / "killed", tiny_backbone, tiny_data, cfg)
    a, b = (load_checkpoint(tmp_path / d / "last") for d in ("straight", "killed"))
    for name in ("router", "z", "A", "head_weight"):
        assert torch.equal(getattr(a, name), getattr(b, name)), name

    def records(d):
        return [{k: v for k, v in json.loads(x).items() if k != "wall_s"}
                for x in (tmp_path / d / "history.jsonl").read_text().splitlines()]

    assert records("straight") == records("killed")


def test_steps_can_be_extended_on_resume(tmp_path, tiny_backbone, tiny_data, make_config):
    _run(tmp_path / "r", tiny_backbone, tiny_data, make_config(steps=4))
    _run(tmp_path / "r", tiny_backbone, tiny_data, make_config(steps=8))
    assert json.loads((tmp_path / "r" / "result.json").read_text())["steps"] == 8


def test_resume_with_another_config_is_refused(tmp_path, tiny_backbone, tiny_data, make_config):
    _run(tmp_path / "r", tiny_backbone, tiny_data, make_config(steps=4))
    with pytest.raises(ResumeError, match="tau: saved 1.0 vs now 0.5"):
        _run(tmp_path / "r", tiny_backbone, tiny_data, make_config(steps=4, tau=0.5))
    with pytest.raises(ResumeError, match="already holds a pre-training run"):
        _run(tmp_path / "r", tiny_backbone, tiny_data, make_config(steps=4), resume=False)


def test_resume_on_another_backbone_is_refused(tmp_path, tiny_backbone, tiny_data, make_config):
    from bbt_mp2.testing import build_tiny_backbone

    _run(tmp_path / "r", tiny_backbone, tiny_data, make_config(steps=8), stop_after=4)
    other = build_tiny_backbone("bert", n_layers=2, hidden=32, seed=5)
    with pytest.raises(ResumeError, match="trained on another backbone"):
        _run(tmp_path / "r", other, tiny_data, make_config(steps=8))


def test_prompt_dropout_draws_are_deterministic_and_near_their_rate():
    from bbt_mp2.pretrain.data import prompt_dropped

    draws = [prompt_dropped(3, s, 0.25) for s in range(4000)]
    assert draws == [prompt_dropped(3, s, 0.25) for s in range(4000)]
    assert abs(sum(draws) / len(draws) - 0.25) < 0.03
    assert not any(prompt_dropped(3, s, 0.0) for s in range(100))


def test_prompt_dropout_trains_the_head_on_unprompted_steps(tmp_path, tiny_backbone, tiny_data, make_config):
    # with dropout ~1 every step is unprompted: prompts and routers get zero gradient (only weight decay moves
    # them), the head still learns; without dropout the prompts move by their gradients
    from bbt_mp2.pretrain.model import PretrainModel, head_linear

    cfg = make_config(prompt_dropout=0.999, weight_decay=0.0)
    a = load_checkpoint(_run(tmp_path / "drop", tiny_backbone, tiny_data, cfg))
    init = PretrainModel.build(n_tasks=len(cfg.tasks), layers=a.config.layers, n_modules=cfg.n_modules, d=cfg.d,
                               n_tokens=cfg.n_tokens, hidden=tiny_backbone.hidden, seed=cfg.seed)
    assert torch.equal(a.z, init.prompt.z.detach()) and torch.equal(a.router, init.prompt.router.detach())
    assert not torch.equal(a.head_weight, head_linear(init.head).weight.detach())
    b = load_checkpoint(_run(tmp_path / "plain", tiny_backbone, tiny_data, make_config(weight_decay=0.0)))
    assert not torch.equal(b.z, init.prompt.z.detach())


def test_prompt_dropout_out_of_range_is_refused(make_config):
    from bbt_mp2.errors import ConfigError

    for bad in (1.5, -0.1):
        with pytest.raises(ConfigError, match="prompt_dropout"):
            make_config(prompt_dropout=bad)


def test_head_only_run_trains_the_head_alone_and_mp2_refuses_it(tmp_path, tiny_backbone, tiny_data, make_config):
    # prompt dropout 1 = the zero-prompt baseline head: modules stay at their initialisation, the head moves, dev
    # is scored with the zero prompt, and a backend refuses to hand its modules to an MP2 method
    from bbt_mp2.checkpoint import load_checkpoint
    from bbt_mp2.errors import ConfigError
    from bbt_mp2.local_backend import LocalBackend
    from bbt_mp2.pretrain.model import PretrainModel, head_linear

    config = make_config(prompt_dropout=1.0)
    assert config.head_only
    ckpt_dir = _run(tmp_path / "head", tiny_backbone, tiny_data, config)
    ckpt = load_checkpoint(ckpt_dir)
    init = PretrainModel.build(n_tasks=len(tiny_data), layers=config.layers(tiny_backbone.n_layers),
                               n_modules=config.n_modules, d=config.d, n_tokens=config.n_tokens,
                               hidden=tiny_backbone.hidden, seed=config.seed)
    assert torch.equal(ckpt.z, init.prompt.z.detach()) and torch.equal(ckpt.A, init.prompt.A.detach())
    assert not torch.equal(ckpt.head_weight, head_linear(init.head).weight.detach())
    assert ckpt.config.head_only
    backend = LocalBackend.from_checkpoint(tiny_backbone, ckpt_dir)
    with pytest.raises(ConfigError, match="zero-prompt head"):
        backend.checkpoint_modules("default")


def test_unprompted_step_matches_an_explicit_zero_prompt(tiny_backbone, tiny_data, make_config):
    # the dropped step skips autograd through the backbone; its logits and head gradient must equal those of a
    # full forward with an all-zero prompt, and the prompt parameters must get an exactly zero gradient
    from bbt_mp2.pretrain.data import batch_tensors
    from bbt_mp2.pretrain.model import PretrainModel, head_linear, prompted_hidden, span_loss

    cfg = make_config()
    model = PretrainModel.build(n_tasks=2, layers=(0, 1), n_modules=cfg.n_modules, d=cfg.d, n_tokens=cfg.n_tokens,
                                hidden=tiny_backbone.hidden, seed=0)
    batch = batch_tensors(tiny_data[0].train, list(range(8)), "cpu")

    def loss_of(start, end):
        return span_loss(start, end, batch["start_positions"], batch["end_positions"], batch["attention_mask"])

    start, end = model(tiny_backbone, batch, 0, routing="sigmoid", zero_prompt=True)
    loss_of(start, end).backward()
    fast = head_linear(model.head).weight.grad.clone()
    assert all(p.grad is not None and not p.grad.any() for p in model.router_parameters())
    model.zero_grad(set_to_none=True)
    zero = torch.zeros(2, cfg.n_tokens, tiny_backbone.hidden, requires_grad=True)
    h = prompted_hidden(tiny_backbone, batch["input_ids"], batch["attention_mask"], batch["token_type_ids"], zero,
                        (0, 1))
    start2, end2 = model.head(h)
    loss_of(start2, end2).backward()
    assert torch.equal(start, start2) and torch.equal(end, end2)
    torch.testing.assert_close(fast, head_linear(model.head).weight.grad, rtol=0, atol=1e-7)
