"""Tests for bbt_mp2/cli/bench.py: ``bench sweep --dry-run`` and ``bench report`` through the CLI entry point."""

from __future__ import annotations

from pathlib import Path

from bbt_mp2.cli import main

CONFIGS = Path(__file__).resolve().parents[3] / "benchmarks" / "configs"


def test_dry_run_lists_every_cell_and_the_estimate(capsys, tmp_path):
    assert main(["bench", "sweep", str(CONFIGS / "paper.yaml"), "--out", str(tmp_path), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.count("| cpt-large/") == 590 and "590 cells" in out and "h left with 1 job(s)" in out
    assert not (tmp_path / "sweep.json").exists()  # a dry run writes nothing


def test_errors_are_reported_without_a_traceback(capsys, tmp_path):
    assert main(["bench", "sweep", str(tmp_path / "missing.yaml")]) == 2
    assert "missing.yaml" in capsys.readouterr().err
    assert main(["bench", "report", str(tmp_path)]) == 2
    assert "sweep.json" in capsys.readouterr().err
