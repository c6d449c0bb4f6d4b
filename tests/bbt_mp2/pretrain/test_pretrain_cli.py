"""Tests for bbt_mp2/cli/pretrain.py: flags -> PretrainConfig, --analyze, errors."""

from __future__ import annotations

import json

import pytest
import torch

from bbt_mp2.checkpoint import CheckpointConfig, MP2Checkpoint, save_checkpoint
from bbt_mp2.cli import build_parser, main
from bbt_mp2.cli.pretrain import build_config
from bbt_mp2.errors import ConfigError


def _args(*argv):
    return build_parser().parse_args(["pretrain", *argv])


def test_flags_build_the_config(tmp_path):
    cfg = build_config(_args("--tasks", "mr", "cr", "--shallow", "--steps", "30", "--weights", "mr=2.5",
                             "--n-tokens", "10", "--max-length", "64", "--out", str(tmp_path), "--seed", "4"))
    assert cfg.tasks == ("mr", "cr") and not cfg.deep and cfg.steps == 30 and cfg.seed == 4
    assert dict(cfg.task_weights) == {"mr": 2.5} and (cfg.n_tokens, cfg.max_length) == (10, 64)


def test_recipe_and_resume_from_the_saved_config(tmp_path):
    cfg = build_config(_args("--recipe", "english", "--steps", "99", "--out", str(tmp_path)))
    assert cfg.tasks[:2] == ("mr", "cr") and cfg.deep and cfg.n_tokens == 20 and cfg.max_length == 96
    (tmp_path / "config.json").write_text(cfg.to_json())
    again = build_config(_args("--out", str(tmp_path), "--steps", "150"))
    assert again.tasks == cfg.tasks and again.steps == 150 and again.task_weights == cfg.task_weights


@pytest.mark.parametrize("argv, match", [
    (("--tasks", "mr", "--weights", "mr"), "TASK=WEIGHT"),
    (("--tasks", "mr", "--weights", "mr=x"), "TASK=WEIGHT"),
    ((), "needs --tasks"),
])
def test_bad_flags(argv, match, tmp_path):
    with pytest.raises(ConfigError, match=match):
        build_config(_args(*argv, "--out", str(tmp_path / "new")))


def test_analyze_prints_the_table(tmp_path, capsys):
    cfg = CheckpointConfig(backbone="t", embedding_hash="x", n_tokens=2, n_modules=2, d=3, hidden=4, layers=(0,),
                           task_names=("a", "b", "c"))
    router = torch.tensor([[[1.0, -1.0]], [[1.0, 1.0]], [[-1.0, 1.0]]])
    save_checkpoint(MP2Checkpoint(cfg, router, torch.zeros(1, 2, 3), torch.zeros(1, 3, 8), torch.zeros(2, 4),
                                  torch.zeros(2)), tmp_path / "run" / "checkpoint")
    assert main(["pretrain", "--analyze", str(tmp_path / "run")]) == 0
    out = capsys.readouterr().out
    assert "| b | 0,1 | 2/2 |" in out and (tmp_path / "run" / "analysis" / "routers_dendrogram.png").is_file()
    assert json.loads((tmp_path / "run" / "analysis" / "routers.json").read_text())["tasks"] == ["a", "b", "c"]


def test_unknown_task_is_a_clean_cli_error(tmp_path, capsys):
    assert main(["pretrain", "--tasks", "nope", "--out", str(tmp_path / "r"), "--steps", "1",
                 "--backbone", "minilm", "--no-progress"]) == 2
    assert "nope" in capsys.readouterr().err


def test_downstream_needs_task_and_checkpoint(tmp_path):
    with pytest.raises(ConfigError, match="--downstream needs --task"):
        main_raise(["pretrain", "--downstream", "prompt-tuning", "--out", str(tmp_path)])


def main_raise(argv):
    args = build_parser().parse_args(argv)
    return args._run(args)
