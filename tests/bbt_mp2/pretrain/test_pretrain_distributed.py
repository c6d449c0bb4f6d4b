"""Tests for bbt_mp2/pretrain/distributed.py: 2 CPU processes under torchrun (gloo) stay in sync and match a
single-process run with the same global batch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from bbt_mp2.errors import ConfigError
from bbt_mp2.pretrain import PretrainModel, pretrain
from bbt_mp2.pretrain.distributed import DistContext


def test_share_splits_a_global_batch_evenly():
    idx = np.arange(8)
    parts = [DistContext(rank=r, world_size=2).share(idx) for r in range(2)]
    assert np.array_equal(np.concatenate(parts), idx)
    with pytest.raises(ConfigError, match="not divisible by the 3 processes"):
        DistContext(rank=0, world_size=3).share(idx)


def test_two_processes_match_one_process(tmp_path, tiny_backbone, tiny_data, make_config):
    cfg = make_config(steps=6, eval_every=3, save_every=3, log_every=1)
    ddp_dir = tmp_path / "ddp"
    ddp_dir.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK")}
    env["OMP_NUM_THREADS"] = "1"
    worker = Path(__file__).with_name("ddp_worker.py")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(worker),
           str(ddp_dir), cfg.to_json()]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    r0, r1 = (torch.load(ddp_dir / f"rank{r}.pt") for r in (0, 1))
    for name in r0:  # ranks in sync: bit-identical parameters
        assert torch.equal(r0[name], r1[name]), name
    pretrain(cfg, tmp_path / "single", backbone=tiny_backbone, task_data=tiny_data, device="cpu", progress=False)
    from bbt_mp2.checkpoint import load_checkpoint

    single = load_checkpoint(tmp_path / "single" / "last")
    dist = load_checkpoint(ddp_dir / "last")
    for name in ("router", "z", "A", "head_weight"):
        assert torch.allclose(getattr(single, name), getattr(dist, name), atol=1e-5, rtol=1e-4), name
    init = PretrainModel.build(n_tasks=2, layers=(0, 1), n_modules=cfg.n_modules, d=cfg.d, n_tokens=cfg.n_tokens,
                               hidden=32, seed=cfg.seed)
    assert (single.router - init.prompt.router.detach()).abs().max() > 1e-3  # the steps did train

    def losses(d):
        return [json.loads(x)["loss"] for x in (d / "history.jsonl").read_text().splitlines() if '"train"' in x]

    assert losses(ddp_dir) == pytest.approx(losses(tmp_path / "single"), rel=1e-4)
