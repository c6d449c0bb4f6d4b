"""Shared fixtures of the CLI tests: a user task written from real SST-2 text, a random MiniLM checkpoint."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch

from bbt_mp2.checkpoint import CheckpointConfig, MP2Checkpoint, save_checkpoint


def write_csv(path: Path, examples, *, label: bool = True) -> Path:
    """``review,sentiment`` rows (``neg``/``pos``) of SST-2 examples."""
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["review", "sentiment"] if label else ["review"])
        for ex in examples:
            writer.writerow([ex.fields["text"], ["neg", "pos"][ex.label]] if label else [ex.fields["text"]])
    return path


SPEC = """name: moviereviews
lang: en
type: single
label_words: [terrible, great]
label_map: {neg: terrible, pos: great}
columns: {text: review, label: sentiment}
files: {train: train.csv%s}
k_shot: 4
"""


@pytest.fixture
def user_spec(tmp_path):
    """A user task from real text: 80 SST-2 training sentences (train.csv) and 40 test sentences (test.csv)."""
    from bbt_mp2.tasks import load_split

    write_csv(tmp_path / "train.csv", load_split("sst2", "train")[:80])
    write_csv(tmp_path / "test.csv", load_split("sst2", "test")[:40])
    path = tmp_path / "reviews.yaml"
    path.write_text(SPEC % ", test: test.csv", encoding="utf-8")
    return path


def random_minilm_checkpoint(path: Path, *, deep: bool = True, n_tokens: int = 5, d: int = 8, k: int = 2) -> Path:
    """A random MP2 checkpoint for the real MiniLM (its embedding hash), deep (6 layers) or shallow."""
    from bbt_mp2.backbones import load_backbone

    bb = load_backbone("minilm")
    g = torch.Generator().manual_seed(2)
    layers = tuple(range(bb.n_layers)) if deep else (0,)
    L, h = len(layers), bb.hidden
    cfg = CheckpointConfig(backbone="minilm", embedding_hash=bb.embedding_hash(), n_tokens=n_tokens, n_modules=k, d=d,
                           hidden=h, layers=layers, task_names=("mr",))
    ckpt = MP2Checkpoint(cfg, router=torch.zeros(1, L, k), z=torch.randn(L, k, d, generator=g),
                         A=torch.randn(L, d, n_tokens * h, generator=g) * 0.05,
                         head_weight=torch.randn(2, h, generator=g) * 0.15, head_bias=torch.zeros(2))
    return save_checkpoint(ckpt, path)


@pytest.fixture
def shipped(tmp_path, monkeypatch):
    """A shipped-checkpoint folder in tmp holding ``english-deep`` (a float16 copy of a random MiniLM checkpoint)."""
    import bbt_mp2.checkpoint as checkpoint_module
    from bbt_mp2.checkpoint import export_checkpoint

    root = tmp_path / "shipped"
    monkeypatch.setattr(checkpoint_module, "SHIPPED_DIR", root)
    export_checkpoint(random_minilm_checkpoint(tmp_path / "ck-src"), "english-deep")
    return root
