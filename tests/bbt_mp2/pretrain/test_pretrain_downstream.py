"""Tests for bbt_mp2/pretrain/downstream.py: gradient baselines on the tiny backbone."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import torch

from bbt_mp2.checkpoint import save_checkpoint
from bbt_mp2.errors import CheckpointError, ConfigError
from bbt_mp2.pretrain import PretrainModel
from bbt_mp2.pretrain.downstream import DownstreamConfig, _Params, run_gradient_downstream


@pytest.fixture(scope="module")
def ckpt_path(tiny_backbone, tmp_path_factory):
    model = PretrainModel.build(n_tasks=2, layers=(0, 1), n_modules=3, d=8, n_tokens=4, hidden=32, seed=0)
    with torch.no_grad():
        model.prompt.router.normal_(generator=torch.Generator().manual_seed(1))
        model.prompt.z.normal_(generator=torch.Generator().manual_seed(2))
    ck = model.to_checkpoint(backbone=tiny_backbone, task_names=["ag_news", "mr"], n_tokens=4, routing="sigmoid")
    return save_checkpoint(ck, tmp_path_factory.mktemp("ck") / "ck")


@pytest.fixture(scope="module")
def split():
    from bbt_mp2.tasks import load_split

    pool = load_split("sst2", "train")
    test = load_split("sst2", "test")
    return SimpleNamespace(train=pool[:12], dev=pool[12:20], test=test[:16])


@pytest.mark.parametrize("method", ["mp2-grad", "prompt-tuning", "p-tuning-v2"])
def test_each_method_writes_a_run_directory(method, tmp_path, tiny_backbone, ckpt_path, split):
    cfg = DownstreamConfig(method=method, task="sst2", seed=13, checkpoint=str(ckpt_path), steps=4, eval_every=2,
                           max_length=128)
    result = run_gradient_downstream(cfg, tmp_path, backbone=tiny_backbone, data=split)
    assert json.loads((tmp_path / "result.json").read_text()) == result
    hist = [json.loads(x) for x in (tmp_path / "history.jsonl").read_text().splitlines()]
    assert [h["step"] for h in hist] == [1, 2, 3, 4] and "dev_metric" in hist[1]
    assert json.loads((tmp_path / "config.json").read_text())["method"] == method
    assert result["tuned"]["dev_metric"] >= result["start"]["dev_metric"]
    assert result["tuned"]["test"]["n"] == 16 and len(result["tuned"]["test"]["predicted_distribution"]) == 2
    best = torch.load(tmp_path / "best_prompts.pt")
    assert best["prompts"].shape == ((1 if method == "prompt-tuning" else 2), 4, 32)


def test_mp2_stage_two_starts_from_the_routed_prompt(tiny_backbone, ckpt_path):
    from bbt_mp2.checkpoint import load_checkpoint

    cfg = DownstreamConfig(method="mp2-grad", task="sst2", seed=0, checkpoint=str(ckpt_path))
    params = _Params(cfg, load_checkpoint(ckpt_path), tiny_backbone, 4)
    assert params.trainable() == [params.router]
    before = params.prompts().detach()
    params.start_stage2()
    assert params.trainable() == [params.zc]
    assert torch.allclose(params.prompts().detach(), before, atol=1e-6)


def test_bad_downstream_inputs(tiny_backbone, ckpt_path, tmp_path, split):
    from bbt_mp2.testing import build_tiny_backbone

    with pytest.raises(ConfigError, match="'lora' is unknown"):
        DownstreamConfig(method="lora", task="sst2", seed=0, checkpoint="x")
    other = build_tiny_backbone("bert", n_layers=2, hidden=32, seed=9)
    cfg = DownstreamConfig(method="prompt-tuning", task="sst2", seed=0, checkpoint=str(ckpt_path), steps=1)
    with pytest.raises(CheckpointError, match="trained on backbone"):
        run_gradient_downstream(cfg, tmp_path, backbone=other, data=split)
