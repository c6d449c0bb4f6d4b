"""Tests for bbt_mp2/cli/demo.py: the before/after lines, and a tiny real ``bbt-mp2 demo`` run on MiniLM.

The shipped ``english-deep`` is replaced by a float16 copy of a random MiniLM checkpoint (the ``shipped`` fixture);
each method spends 40 calls (MP2: one router generation, one CMA-ES generation), scored on 20 test examples.
"""

from __future__ import annotations

import json
import re

import pytest

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


@pytest.mark.slow  # real MiniLM runs
def test_demo_runs_mp2_deep_beside_bbt_from_the_shipped_checkpoint(shipped, tmp_path, capsys):
    out_dir = tmp_path / "demo"
    argv = ["demo", "--budget", "40", "--test-size", "20", "--out", str(out_dir), "--no-progress", "--max-length",
            "48", "--seed", "42"]
    assert main(argv) == 0  # no --checkpoint: the shipped english-deep, no pre-training
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("bbt-mp2 demo: mp2-deep vs bbt on sst2 (unseen by checkpoint english-deep), seed 42")
    header = next(i for i, line in enumerate(lines) if line.startswith("method"))
    assert lines[header].split() == ["method", "start", "dev", "start", "test", "tuned", "dev", "tuned", "test",
                                     "test", "AUC", "calls", "wall"]
    for row, method in zip(lines[header + 1:header + 3], ("mp2-deep", "bbt")):
        result = json.loads((out_dir / method / "result.json").read_text())
        cells = row.split()
        assert cells[0] == method and result["calls"] == 40 and cells[-2] == "40"
        assert cells[1:5] == [f"{result['start']['dev_metric']:.4f}", f"{result['start']['test']['metric']:.4f}",
                              f"{result['tuned']['dev_metric']:.4f}", f"{result['tuned']['test']['metric']:.4f}"]
        assert result["tuned"]["test"]["n"] == 20
    mp2 = json.loads((out_dir / "mp2-deep" / "config.json").read_text())["stages"]
    assert [s[:2] for s in mp2] == [["router", 20], ["prompt", 20]]  # router stage, then CMA-ES
    found = {m.group(1): m for m in (re.match(r"^(mp2-deep|bbt): (.*)$", line) for line in lines) if m}
    assert sorted(found) == ["bbt", "mp2-deep"] and all(LINE.match(m.group(2)) for m in found.values())


def test_demo_without_the_shipped_checkpoint_says_how_to_get_it(tmp_path, monkeypatch, capsys):
    import bbt_mp2.checkpoint

    monkeypatch.setattr(bbt_mp2.checkpoint, "SHIPPED_DIR", tmp_path / "none")
    assert main(["demo", "--no-progress"]) == 2
    assert "default checkpoint 'english-deep'" in capsys.readouterr().err
