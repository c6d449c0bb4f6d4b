"""Tests for bbt_mp2/cli/tune.py: errors before work, real runs, the default shipped checkpoint, user tasks."""

from __future__ import annotations

import json
import re

import pytest
import torch

import bbt_mp2.backbones
import bbt_mp2.checkpoint
from bbt_mp2.checkpoint import CheckpointConfig, MP2Checkpoint, save_checkpoint
from bbt_mp2.cli import main


def _checkpoint(path, *, embedding_hash, hidden=384, n_layers=6, n_tokens=5, d=8, k=2):
    g = torch.Generator().manual_seed(1)
    cfg = CheckpointConfig(backbone="minilm", embedding_hash=embedding_hash, n_tokens=n_tokens, n_modules=k, d=d,
                           hidden=hidden, layers=tuple(range(n_layers)), task_names=("up",))
    ckpt = MP2Checkpoint(cfg, router=torch.zeros(1, n_layers, k), z=torch.randn(n_layers, k, d, generator=g),
                         A=torch.randn(n_layers, d, n_tokens * hidden, generator=g) * 0.05,
                         head_weight=torch.randn(2, hidden, generator=g) * 0.15, head_bias=torch.zeros(2))
    return save_checkpoint(ckpt, path)


@pytest.fixture
def no_model(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the backbone must not be loaded before the arguments are checked")

    monkeypatch.setattr(bbt_mp2.backbones, "load_backbone", refuse)


@pytest.fixture(scope="module")
def minilm_hash():
    return bbt_mp2.backbones.load_backbone("minilm").embedding_hash()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--task", "sst2", "--method", "bbt3"], "unknown method 'bbt3'; choose one of"),
        (["--task", "sst9", "--method", "bbt"], "unknown task 'sst9'"),
        (["--task", "sst2", "--method", "bbt", "--preset", "fast"], "unknown preset 'fast'"),
        (["--task", "sst2", "--method", "bbt"], "default checkpoint 'english-deep' .* is not installed"),
        (["--task", "sst2", "--method", "bbt", "--checkpoint", "englsh-deep"],
         "'englsh-deep' is neither a checkpoint directory nor a shipped checkpoint name; shipped: none"),
        (["--task", "cmnli", "--method", "bbt"], "no shipped MP2 checkpoint for backbone 'minilm' and 'zh' tasks"),
        (["--task", "{tmp}/spec.yaml", "--method", "bbt"], "task spec file .*spec.yaml' does not exist"),
        (["--task", "sst2", "--method", "mp2-deep", "--checkpoint", "{tmp}/none"],
         "none. is neither a checkpoint directory nor a shipped checkpoint name"),
        (["--task", "sst2", "--method", "bbt", "--checkpoint", "{ckpt}", "--budget", "19"],
         "budget of 19 API calls, smaller than one generation"),
        (["--task", "sst2", "--method", "bbt", "--checkpoint", "{ckpt}", "--set", "sigmaa=1"],
         "unknown setting 'sigmaa'"),
        (["--task", "sst2", "--method", "bbt", "--checkpoint", "{ckpt}", "--set", "sigma"], "is not KEY=VALUE"),
        (["--task", "sst2", "--method", "mp2-deep", "--checkpoint", "{ckpt}", "--set", "budget_router=10"],
         "stage 'router' has a budget of 10"),
    ],
)
def test_bad_input_fails_before_the_model_loads(argv, message, no_model, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(bbt_mp2.checkpoint, "SHIPPED_DIR", tmp_path / "no-shipped")
    ckpt = _checkpoint(tmp_path / "ck", embedding_hash="0" * 16)
    argv = [a.format(tmp=tmp_path, ckpt=ckpt) for a in argv]
    assert main(["tune", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("bbt-mp2 tune: error:")
    assert re.search(message, err), err


def test_checkpoint_of_another_backbone_refused_before_any_call(tmp_path, capsys):
    ckpt = _checkpoint(tmp_path / "other", embedding_hash="deadbeef" * 2)
    assert main(["tune", "--task", "rte", "--method", "mp2-deep", "--checkpoint", str(ckpt), "--out",
                 str(tmp_path / "run")]) == 2
    assert "embedding hash" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


@pytest.mark.slow  # real MiniLM runs
def test_tune_end_to_end_and_resume(minilm_hash, tmp_path, capsys):
    ckpt = _checkpoint(tmp_path / "ck", embedding_hash=minilm_hash)
    out = tmp_path / "run"
    argv = ["tune", "--task", "rte", "--method", "bbt", "--seed", "13", "--budget", "8", "--checkpoint", str(ckpt),
            "--out", str(out), "--max-length", "48", "--set", "popsize=4", "--set", "eval_every=4", "--set", "d=50"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    summary = captured.out.strip().splitlines()[-1]
    assert summary.startswith("bbt on rte (seed 13): 8/8 calls") and "dev acc" in summary and "test acc" in summary
    assert "call" in captured.err  # the progress bar (tqdm writes to stderr)
    config = json.loads((out / "config.json").read_text())
    assert config["run"]["method_config"]["popsize"] == 4 and config["run"]["method_config"]["n_tokens"] == 5
    result = json.loads((out / "result.json").read_text())
    assert result["calls"] == 8 and result["tuned"]["test"]["n"] > 0
    assert main(argv) == 2  # the directory holds a run
    assert "already holds a run" in capsys.readouterr().err
    assert main([*argv, "--resume"]) == 0  # finished: the saved result, no new calls
    assert capsys.readouterr().out.strip().splitlines()[-1] == summary


@pytest.mark.slow
def test_without_checkpoint_mp2_deep_and_bbt_take_the_shipped_english_deep(shipped, tmp_path, capsys):
    common = ["--task", "sst2", "--seed", "13", "--max-length", "48", "--no-progress", "--set", "popsize=4",
              "--set", "eval_every=4"]
    out = tmp_path / "deep"
    assert main(["tune", "--method", "mp2-deep", "--budget", "8", "--out", str(out), "--set", "budget_router=4",
                 "--set", "n_init=4", "--set", "eval_every_router=4", *common]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith("mp2-deep on sst2 (seed 13): 8/8 calls")
    tuned = json.loads((out / "tuned.json").read_text())
    sums = (shipped / "SHA256SUMS").read_text().split()
    assert tuned["checkpoint"] == {"id": "english-deep", "sha256": sums[0]}
    assert tuned["param"]["projection"]["checkpoint"] == "english-deep"
    assert main(["tune", "--method", "bbt", "--budget", "4", "--out", str(tmp_path / "bbt"), "--set", "d=20",
                 *common]) == 0
    assert json.loads((tmp_path / "bbt" / "tuned.json").read_text())["param"]["head"] == "english-deep"


@pytest.mark.slow
def test_user_task_without_test_file_reports_dev_only(shipped, user_spec, tmp_path, capsys):
    user_spec.write_text(user_spec.read_text().replace(", test: test.csv", ""))
    out = tmp_path / "run"
    assert main(["tune", "--task", str(user_spec), "--method", "bbt", "--budget", "4", "--out", str(out),
                 "--max-length", "48", "--no-progress", "--set", "popsize=4", "--set", "d=20"]) == 0
    summary = capsys.readouterr().out.strip().splitlines()[-1]
    assert "bbt on moviereviews" in summary and "test: none (the task has no test file)" in summary
    result = json.loads((out / "result.json").read_text())
    assert result["start"]["test"] is None and result["tuned"]["test"] is None
    assert result["control_calls"] == 1  # the start's train score only: nothing scored on a test set
