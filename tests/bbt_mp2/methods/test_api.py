"""Tests for bbt_mp2/methods/api.py (``tune``), including the README's user-optimizer example run verbatim."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import bbt_mp2.checkpoint
import bbt_mp2.tasks
from bbt_mp2.checkpoint import CheckpointConfig, MP2Checkpoint, save_checkpoint
from bbt_mp2.errors import CheckpointError, UnknownNameError
from bbt_mp2.methods import tune

SNIPPET = Path(__file__).with_name("readme_optimizer_snippet.py")


def test_tune_builds_the_config_from_preset_budget_and_checkpoint(fake_backend, split, fake_task, make_checkpoint,
                                                                  tmp_path):
    ckpt = make_checkpoint(tmp_path / "ck", n_tokens=3)
    res = tune(fake_task, "bbt", 5, 24, backend=fake_backend(), checkpoint=ckpt, preset="paper", data=split,
               overrides={"d": 8, "popsize": 4, "eval_every": 8}, out_dir=tmp_path / "run")
    config = json.loads((tmp_path / "run" / "config.json").read_text())["run"]
    mc = config["method_config"]
    assert (mc["budget"], mc["projection"], mc["sigma"], mc["bound"]) == (24, "uniform", 0.5, 5.0)  # paper preset
    assert mc["n_tokens"] == 3 and mc["checkpoint"] == str(ckpt.resolve())  # prompt length from the checkpoint
    assert config["preset"] == "paper" and res.calls == 24
    with pytest.raises(UnknownNameError, match="unknown preset"):
        tune(fake_task, "bbt", 5, 24, backend=fake_backend(), preset="quick", data=split, out_dir=tmp_path / "x")
    with pytest.raises(CheckpointError, match="n_tokens=3"):
        tune(fake_task, "mp2-shallow", 5, 24, backend=fake_backend(), checkpoint=ckpt, n_tokens=4, data=split,
             out_dir=tmp_path / "y")


def _random_minilm_checkpoint(path: Path) -> Path:
    from bbt_mp2.backbones import load_backbone

    bb = load_backbone("minilm")
    g = torch.Generator().manual_seed(0)
    L, h, n = bb.n_layers, bb.hidden, 5
    cfg = CheckpointConfig(backbone=bb.name, embedding_hash=bb.embedding_hash(), n_tokens=n, n_modules=2, d=8,
                           hidden=h, layers=tuple(range(L)), task_names=("up",))
    ckpt = MP2Checkpoint(cfg, router=torch.zeros(1, L, 2), z=torch.randn(L, 2, 8, generator=g),
                         A=torch.randn(L, 8, n * h, generator=g) * 0.05,
                         head_weight=torch.randn(2, h, generator=g) * 0.15, head_bias=torch.zeros(2))
    return save_checkpoint(ckpt, path)


def _readme_snippet() -> str:
    """The Python block of the README's "Python API with your own optimizer" section."""
    readme = (Path(__file__).parents[3] / "README.md").read_text()
    section = readme.split("### Python API with your own optimizer", 1)[1]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


def test_readme_snippet_is_the_tested_file():
    assert _readme_snippet() == SNIPPET.read_text(), (
        f"README.md's optimizer snippet and {SNIPPET.name} differ; edit one and copy it to the other"
    )


@pytest.mark.slow
def test_readme_user_optimizer_snippet_runs_verbatim(tmp_path, monkeypatch, capsys):
    # the shipped english-deep is swapped for a float16 copy of a random MiniLM one (shipped in tmp) and
    # the test set is cut to 40 examples for speed; the snippet's text is executed unchanged.
    ckpt = _random_minilm_checkpoint(tmp_path / "ckpt")
    monkeypatch.setattr(bbt_mp2.checkpoint, "SHIPPED_DIR", tmp_path / "shipped")
    bbt_mp2.checkpoint.export_checkpoint(ckpt, "english-deep")
    real_fewshot = bbt_mp2.tasks.fewshot

    def small_fewshot(*args, **kwargs):
        split = real_fewshot(*args, **kwargs)
        return type(split)(train=split.train, dev=split.dev, test=split.test[:40])

    monkeypatch.setattr(bbt_mp2.tasks, "fewshot", small_fewshot)
    monkeypatch.chdir(tmp_path)
    exec(compile(SNIPPET.read_text(), str(SNIPPET), "exec"), {"__name__": "__readme__"})
    out = capsys.readouterr().out
    assert out.startswith("bbt on sst2 (seed 13): 40/40 calls")
    hist = [json.loads(x) for x in (tmp_path / "runs/sst2-hillclimber/history.jsonl").read_text().splitlines()]
    assert [h["calls"] for h in hist] == [10, 20, 30, 40]  # popsize 10 per ask
    result = json.loads((tmp_path / "runs/sst2-hillclimber/result.json").read_text())
    assert result["best_train_loss"] <= result["start"]["train_loss"]
