"""Tests for bbt_mp2/cli/__init__.py: shared sub-command options."""

from __future__ import annotations

import pytest
import torch

from bbt_mp2.cli import main, set_threads
from bbt_mp2.errors import ConfigError


@pytest.mark.parametrize("command", ["pretrain", "demo"])
def test_bad_thread_count_is_refused_before_any_work(command, tmp_path, capsys):
    assert main([command, "--threads", "0", "--out", str(tmp_path / "run")]) == 2
    assert "--threads must be a positive number of threads, got 0" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_set_threads_applies_and_none_leaves_torch_alone():
    before = torch.get_num_threads()
    try:
        set_threads(1)
        assert torch.get_num_threads() == 1
        set_threads(None)
        assert torch.get_num_threads() == 1
        with pytest.raises(ConfigError, match="-3"):
            set_threads(-3)
    finally:
        torch.set_num_threads(before)
