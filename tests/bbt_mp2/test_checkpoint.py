"""Tests for bbt_mp2/checkpoint.py: round trip, shape validation, compatibility checks."""

from __future__ import annotations

import json

import pytest
import torch

from bbt_mp2.checkpoint import CheckpointConfig, MP2Checkpoint, load_checkpoint, save_checkpoint
from bbt_mp2.errors import CheckpointError


def make_ckpt(layers=(0, 1), n_tasks=3, K=4, d=6, n=5, h=8, seed=0) -> MP2Checkpoint:
    g = torch.Generator().manual_seed(seed)
    cfg = CheckpointConfig(
        backbone="tiny", embedding_hash="abc123", n_tokens=n, n_modules=K, d=d, hidden=h,
        layers=tuple(layers), task_names=tuple(f"t{i}" for i in range(n_tasks)),
    )
    L = len(layers)
    return MP2Checkpoint(
        cfg,
        router=torch.randn(n_tasks, L, K, generator=g),
        z=torch.randn(L, K, d, generator=g),
        A=torch.randn(L, d, n * h, generator=g),
        head_weight=torch.randn(2, h, generator=g),
        head_bias=torch.zeros(2),
    )


def test_round_trip_is_exact(tmp_path):
    ckpt = make_ckpt()
    path = save_checkpoint(ckpt, tmp_path / "ck")
    back = load_checkpoint(path)
    assert back.config == ckpt.config
    for name in ("router", "z", "A", "head_weight", "head_bias"):
        assert torch.equal(getattr(back, name), getattr(ckpt, name)), name
    # overwriting an existing checkpoint works and keeps one directory
    ckpt2 = make_ckpt(seed=1)
    save_checkpoint(ckpt2, path)
    assert torch.equal(load_checkpoint(path).z, ckpt2.z)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck"]


def test_wrong_shapes_are_refused():
    ckpt = make_ckpt()
    with pytest.raises(CheckpointError, match=r"tensor 'z' has shape"):
        MP2Checkpoint(ckpt.config, ckpt.router, ckpt.z[:, :2], ckpt.A, ckpt.head_weight, ckpt.head_bias)


def test_compatibility_checks():
    ckpt = make_ckpt()
    ckpt.check_compatible(backbone_hash="abc123", hidden=8, n_layers=2, n_tokens=5)
    with pytest.raises(CheckpointError, match="embedding hash"):
        ckpt.check_compatible(backbone_hash="zzz", hidden=8, n_layers=2)
    with pytest.raises(CheckpointError, match="hidden size"):
        ckpt.check_compatible(backbone_hash="abc123", hidden=16, n_layers=2)
    with pytest.raises(CheckpointError, match="has 1 layers"):
        ckpt.check_compatible(backbone_hash="abc123", hidden=8, n_layers=1)
    with pytest.raises(CheckpointError, match="n_tokens=5"):
        ckpt.check_compatible(backbone_hash="abc123", hidden=8, n_layers=2, n_tokens=7)


def test_lookup_errors_name_the_valid_values():
    ckpt = make_ckpt()
    assert ckpt.task_index("t2") == 2 and ckpt.layer_index(1) == 1
    with pytest.raises(CheckpointError, match="tasks: \\('t0', 't1', 't2'\\)"):
        ckpt.task_index("nope")
    with pytest.raises(CheckpointError, match="layer 5 is not prompted"):
        ckpt.layer_index(5)


def test_load_errors(tmp_path):
    with pytest.raises(CheckpointError, match="not an MP2 checkpoint directory"):
        load_checkpoint(tmp_path)
    path = save_checkpoint(make_ckpt(), tmp_path / "ck")
    cfg = json.loads((path / "config.json").read_text())
    cfg["surprise"] = 1
    (path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="unknown keys \\['surprise'\\]"):
        load_checkpoint(path)
