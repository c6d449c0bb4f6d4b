"""The recipe report (benchmarks/pretrain_recipe.py) and the pre-training curve agree on the same checkpoint."""

from __future__ import annotations

import json

import pytest


def test_report_equals_the_curve_at_the_checkpoint_step(tmp_path, tiny_backbone, make_config):
    from bbt_mp2.pretrain import pretrain
    from benchmarks.pretrain_recipe import evaluate_checkpoint

    cfg = make_config(tasks=("mrpc", "mr"), steps=4, eval_every=4, save_every=4, dev_size=24, train_size=16)
    best = pretrain(cfg, tmp_path / "run", backbone=tiny_backbone, device="cpu", progress=False)
    curve = [json.loads(line) for line in (tmp_path / "run" / "history.jsonl").read_text().splitlines()]
    evals = {r["step"]: r["dev"] for r in curve if r.get("event") == "eval"}
    report = evaluate_checkpoint(best, unseen=(), routers=(), limit=0, dev_size=None, backbone=tiny_backbone)
    dev = evals[report["step"]]
    assert set(report["upstream"]) == set(dev) == {"mrpc", "mr"}
    assert report["upstream"]["mrpc"]["metric"] == "f1"
    for task, row in report["upstream"].items():
        assert row["after"] == pytest.approx(dev[task], abs=1e-9), task
        assert row["n"] == 24
