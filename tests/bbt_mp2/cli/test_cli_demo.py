"""Tests for bbt_mp2/cli/demo.py: the before/after lines, and a tiny real ``bbt-mp2 demo`` run on MiniLM.

The head comes from a small random MiniLM checkpoint passed with ``--checkpoint`` (the real demo checkpoint takes
minutes to pre-train); the run is a single CMA-ES generation, scored on a 40-example test subsample.
"""

from __future__ import annotations

import json
import re

import pytest
import torch

from bbt_mp2.backbones import load_backbone
from bbt_mp2.checkpoint import CheckpointConfig, MP2Checkpoint, save_checkpoint
from bbt_mp2.cli import main
from bbt_mp2.cli.demo import change_line

LINE = re.compile(r"^(dev|test) accuracy (\d\.\d{4}) -> (\d\.\d{4}) \(([+-]\d\.\d{4})\): (improved|worse|no change)$")


@pytest.mark.parametrize(
    "before, after, expected",
    [
        (0.61, 0.68, "test accuracy 0.6100 -> 0.6800 (+0.0700): improved"),
        (0.5, 0.4375, "test accuracy 0.5000 -> 0.4375 (-0.0625): worse"),
        (0.5, 0.5, "test accuracy 0.5000 -> 0.5000 (+0.0000): no change"),
    ],
)
def test_change_line_says_plainly_what_happened(before, after, expected):
    assert change_line("test", "acc", before, after) == expected


def test_change_line_names_other_metrics():
    assert change_line("dev", "span_f1", 0.2, 0.25).startswith("dev span F1 0.2000 -> 0.2500 (+0.0500)")
    assert change_line("dev", "mcc", 0.2, 0.1).startswith("dev mcc 0.2000 -> 0.1000")


@pytest.fixture(scope="module")
def minilm_checkpoint(tmp_path_factory):
    backbone = load_backbone("minilm")
    g = torch.Generator().manual_seed(2)
    n, k, d, h = 5, 2, 8, backbone.hidden
    cfg = CheckpointConfig(backbone="minilm", embedding_hash=backbone.embedding_hash(), n_tokens=n, n_modules=k, d=d,
                           hidden=h, layers=(0,), task_names=("up",))
    ckpt = MP2Checkpoint(cfg, router=torch.zeros(1, 1, k), z=torch.randn(1, k, d, generator=g),
                         A=torch.randn(1, d, n * h, generator=g) * 0.05,
                         head_weight=torch.randn(2, h, generator=g) * 0.15, head_bias=torch.zeros(2))
    return save_checkpoint(ckpt, tmp_path_factory.mktemp("demo-ck") / "ck")


def test_demo_prints_dev_and_test_before_and_after(minilm_checkpoint, tmp_path, capsys):
    out_dir = tmp_path / "run"
    argv = ["demo", "--checkpoint", str(minilm_checkpoint), "--budget", "20", "--test-size", "40",
            "--out", str(out_dir), "--no-progress", "--max-length", "48", "--seed", "42"]
    assert main(argv) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    result = json.loads((out_dir / "result.json").read_text())
    assert result["calls"] == 20 and result["seed"] == 42 and result["tuned"]["test"]["n"] == 40
    found = {m.group(1): m for m in map(LINE.match, lines[-2:]) if m}
    assert sorted(found) == ["dev", "test"], lines[-2:]
    for split, key in (("dev", "dev_metric"), ("test", None)):
        m = found[split]
        before = result["start"][key] if key else result["start"]["test"]["metric"]
        after = result["tuned"][key] if key else result["tuned"]["test"]["metric"]
        assert (m.group(2), m.group(3)) == (f"{before:.4f}", f"{after:.4f}")
        verdict = "improved" if after > before else "worse" if after < before else "no change"
        assert m.group(5) == verdict
    assert any("test AUC" in line for line in lines)  # the controls table is printed before the verdict
