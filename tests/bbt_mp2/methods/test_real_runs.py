"""Real runs of the methods (bbt_mp2/methods/*) on MiniLM and real few-shot data, with small budgets.

The MRC head and the MP2 modules come from a small random checkpoint made here for MiniLM (tuning must still lower
the training loss; dev selection must never end below the untuned start). Test sets are cut to 64 examples.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from bbt_mp2.backbones import load_backbone
from bbt_mp2.checkpoint import CheckpointConfig, MP2Checkpoint, save_checkpoint
from bbt_mp2.local_backend import LocalBackend
from bbt_mp2.methods import tune
from bbt_mp2.tasks import fewshot

N_TOKENS, MAX_LENGTH = 5, 48


@pytest.fixture(scope="module")
def backbone():
    return load_backbone("minilm")


@pytest.fixture(scope="module")
def minilm_checkpoint(backbone, tmp_path_factory):
    g = torch.Generator().manual_seed(0)
    L, K, d, h = backbone.n_layers, 4, 16, backbone.hidden
    cfg = CheckpointConfig(backbone=backbone.name, embedding_hash=backbone.embedding_hash(), n_tokens=N_TOKENS,
                           n_modules=K, d=d, hidden=h, layers=tuple(range(L)), task_names=("upstream",))
    ckpt = MP2Checkpoint(cfg, router=torch.zeros(1, L, K), z=torch.randn(L, K, d, generator=g),
                         A=torch.randn(L, d, N_TOKENS * h, generator=g) * 0.05,
                         head_weight=torch.randn(2, h, generator=g) * 3 / h**0.5, head_bias=torch.zeros(2))
    return save_checkpoint(ckpt, tmp_path_factory.mktemp("ckpt") / "minilm-random")


@pytest.fixture(scope="module")
def sst2():
    split = fewshot("sst2", 13)
    return type(split)(train=split.train, dev=split.dev, test=split.test[:64])


@pytest.mark.parametrize(
    "method, budget, overrides",
    [
        ("bbt", 34, dict(popsize=8, eval_every=8)),
        ("bbtv2", 24, dict(popsize=4, d=50, eval_every=8)),  # one round over the 6 layers
        ("mp2-deep", 28, dict(budget_router=4, n_init=4, popsize=4, eval_every=8, eval_every_router=2)),
    ],
)
def test_real_run_improves_training_loss(method, budget, overrides, backbone, minilm_checkpoint, sst2, tmp_path):
    backend = LocalBackend.from_checkpoint(backbone, minilm_checkpoint)
    res = tune("sst2", method, 13, budget, backend=backend, checkpoint=minilm_checkpoint, out_dir=tmp_path,
               overrides=overrides, data=sst2, max_length=MAX_LENGTH)
    assert res.calls == budget - (budget % overrides["popsize"] if method != "mp2-deep" else 0)
    print(res.summary())
    assert res.best_train_loss < res.start["train_loss"]
    assert res.dev_after >= res.dev_before
    # every train evaluation was a budgeted call, except the untuned start's control call
    assert backend.n_calls == res.calls + res.dev_calls + 1
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["tuned"]["test"]["n"] == 64 and result["tuned"]["test"]["auc"] is not None
    assert np.load(tmp_path / "best_params.npy").ndim == 2
