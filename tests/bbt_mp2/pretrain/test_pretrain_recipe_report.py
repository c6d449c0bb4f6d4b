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


def test_zero_head_column_equals_the_head_only_runs_curve(tmp_path, tiny_backbone, make_config):
    # a head-only run (prompt dropout 1) scores dev with the zero prompt; the report's zero-head column must be that
    from bbt_mp2.pretrain import pretrain
    from benchmarks.pretrain_recipe import evaluate_checkpoint, to_markdown

    kw = dict(tasks=("mrpc", "mr"), steps=4, eval_every=4, save_every=4, dev_size=24, train_size=16)
    mp2 = pretrain(make_config(**kw), tmp_path / "mp2", backbone=tiny_backbone, device="cpu", progress=False)
    head = pretrain(make_config(prompt_dropout=1.0, **kw), tmp_path / "head", backbone=tiny_backbone, device="cpu",
                    progress=False)
    curve = [json.loads(line) for line in (tmp_path / "head" / "history.jsonl").read_text().splitlines()]
    dev = [r["dev"] for r in curve if r.get("event") == "eval"][-1]
    report = evaluate_checkpoint(mp2, unseen=(), routers=(), limit=0, dev_size=None, backbone=tiny_backbone,
                                 zero_head=head)
    assert report["zero_head"]["step"] == 4 and len(report["zero_head"]["sha256"]) == 64
    for task, row in report["upstream"].items():
        assert row["zero_prompt_zero_head"] == pytest.approx(dev[task], abs=1e-9), task
    md = to_markdown(report)
    assert "zero prompt + zero-prompt head" in md and str(tmp_path) not in md
