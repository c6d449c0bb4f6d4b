"""Tests for bbt_mp2/pretrain/analysis.py: router clustering, dendrogram PNG, activation table."""

from __future__ import annotations

import pytest
import torch

from bbt_mp2.checkpoint import CheckpointConfig, MP2Checkpoint, save_checkpoint
from bbt_mp2.errors import CheckpointError
from bbt_mp2.pretrain import activation_table, analyze_routers, cluster_routers


def _ckpt(router: torch.Tensor, names) -> MP2Checkpoint:
    T, L, K = router.shape
    cfg = CheckpointConfig(backbone="tiny", embedding_hash="x", n_tokens=2, n_modules=K, d=3, hidden=4,
                           layers=tuple(range(L)), task_names=tuple(names))
    return MP2Checkpoint(cfg, router, torch.zeros(L, K, 3), torch.zeros(L, 3, 8), torch.zeros(2, 4), torch.zeros(2))


def test_similar_routers_merge_first():
    base = torch.tensor([[[3.0, -3.0, 3.0, -3.0]], [[-3.0, 3.0, -3.0, 3.0]]])
    router = torch.cat([base[:1], base[:1] + 0.1, base[1:], base[1:] - 0.1])  # a, a', b, b'
    z = cluster_routers(_ckpt(router, ["a", "a2", "b", "b2"]))
    first_two = {tuple(sorted(map(int, row[:2]))) for row in z[:2]}
    assert first_two == {(0, 1), (2, 3)}
    assert z[2, 2] > z[0, 2] and z[2, 2] > z[1, 2]  # the two groups join last, at the largest distance


def test_activation_table_lists_positive_logits():
    router = torch.tensor([[[1.0, -1.0, 2.0], [-1.0, -1.0, -1.0]], [[-1.0, 1.0, -1.0], [1.0, 1.0, 1.0]]])
    table = activation_table(_ckpt(router, ["t0", "t1"]))
    assert "| t0 | 0,2 | - | 2/6 |" in table
    assert "| t1 | 1 | 0,1,2 | 4/6 |" in table


def test_analyze_writes_png_table_and_json(tmp_path):
    g = torch.Generator().manual_seed(0)
    path = save_checkpoint(_ckpt(torch.randn(4, 2, 4, generator=g), ["a", "b", "c", "d"]), tmp_path / "ck")
    out = analyze_routers(path, tmp_path / "analysis")
    png = out["dendrogram"].read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 1000
    assert out["table"].read_text().count("\n") == 2 + 4
    assert set(out["active"]) == {"a", "b", "c", "d"}


def test_one_task_cannot_be_clustered():
    with pytest.raises(CheckpointError, match="at least two task routers"):
        cluster_routers(_ckpt(torch.zeros(1, 1, 2), ["only"]))
