"""A small real sweep: MiniLM, real data, a tiny checkpoint pre-trained here; a black-box cell, a gradient baseline
cell and a label-subset cell (DBpedia, 3 of its 14 labels) run in worker processes and are reported."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bbt_mp2.pretrain import PretrainConfig
from bbt_mp2.pretrain.trainer import pretrain
from benchmarks.report import write_report
from benchmarks.sweep import SweepConfig, run_sweep

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """6 steps of deep MP2 pre-training on mr (K=2, d=16, n=5): a real checkpoint in a few seconds."""
    cfg = PretrainConfig(seed=0, tasks=("mr",), deep=True, steps=6, batch_size=8, n_tokens=5, max_length=40,
                         n_modules=2, d=16, eval_every=0, save_every=6, dev_size=16, train_size=64,
                         backbone="minilm")
    return pretrain(cfg, tmp_path_factory.mktemp("pretrain"), device="cpu", progress=False)


def test_real_cells_black_box_gradient_and_label_subset(checkpoint, tmp_path):
    config = SweepConfig.from_dict({
        "name": "real", "checkpoints": {"tiny": str(checkpoint)},
        "fixed": {"max_length": 40, "test_limit": 16, "jobs": 1, "threads": 1,
                  "set": ["popsize=5", "eval_every=5", "d=8", "grad:prompt-tuning:steps=3",
                          "grad:prompt-tuning:eval_every=1"]},
        "axes": {"tasks": ["sst2"], "seeds": [13], "budgets": [10], "checkpoints": ["tiny"]},
        "tracks": {"main": {"methods": ["bbt", "grad:prompt-tuning"]},
                   "labels": {"methods": ["bbt"], "tasks": ["dbpedia"], "labels": [3], "shots": [2]}}})
    outcome = run_sweep(config, tmp_path, jobs=1, show_progress=False)
    assert outcome.count("done") == 3, outcome.statuses
    results = {c.method + ("/labels" if c.labels else ""): json.loads(Path(c.out_dir, "result.json").read_text())
               for c in outcome.cells}
    assert results["bbt"]["calls"] == 10 and results["bbt"]["tuned"]["test"]["n"] == 16
    assert results["grad:prompt-tuning"]["steps"] == 3 and results["grad:prompt-tuning"]["tuned"]["test"]["n"] == 16
    subset = results["bbt/labels"]
    assert subset["task"] == "dbpedia.labels3.s13" and len(subset["tuned"]["test"]["predicted_distribution"]) == 3
    md = write_report(tmp_path)["markdown"].read_text()
    assert "grad:prompt-tuning (3 steps)" in md and "track labels" in md and "labels 3" in md
