"""Tests for benchmarks/compare_methods.py: its flags become a sweep config whose cells match the old job plan."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from bbt_mp2.errors import ConfigError, UnknownNameError
from benchmarks.compare_methods import sweep_config
from benchmarks.sweep import plan_cells


def _args(**kw):
    base = dict(checkpoint=Path("deep"), shallow_checkpoint=Path("shallow"), tasks=["sst2", "rte"],
                methods=["bbt", "mp2-shallow", "mp2-router"], seeds=[13, 42], budget=["500", "mp2-router=80"],
                preset="reference", set=["popsize=10", "mp2-router:n_init=5"], max_length=96, backbone="minilm",
                device="cpu", jobs=1, threads=1, out=Path("out"))
    base.update(kw)
    return argparse.Namespace(**base)


def test_flags_plan_every_run_with_per_method_budgets_settings_and_checkpoints(tmp_path):
    cells = plan_cells(sweep_config(_args()), tmp_path)
    assert len(cells) == 2 * 3 * 2
    by = {(c.task, c.method, c.seed): c for c in cells}
    assert by[("sst2", "bbt", 13)].budget == 500 and by[("rte", "mp2-router", 42)].budget == 80
    assert by[("sst2", "bbt", 13)].overrides == {"popsize": 10}
    assert by[("sst2", "mp2-shallow", 13)].overrides == {"popsize": 10}  # mp2-router has no popsize
    assert by[("sst2", "mp2-router", 13)].overrides == {"n_init": 5}
    assert by[("sst2", "mp2-shallow", 13)].checkpoint == "shallow" and by[("sst2", "bbt", 13)].checkpoint == "deep"
    assert by[("rte", "bbt", 42)].out_dir.startswith(str(tmp_path / "cells"))


@pytest.mark.parametrize("kw, error, match", [
    (dict(methods=["bbt", "bbt3"]), ConfigError, "bbt3"),
    (dict(tasks=["sst2", "nosuchtask"]), UnknownNameError, "nosuchtask"),
    (dict(set=["popsize"]), ConfigError, "KEY=VALUE"),
    (dict(set=["bbt4:popsize=3"]), ConfigError, "bbt4"),
    (dict(budget=["many"]), ConfigError, "many"),
])
def test_bad_sweeps_are_refused_before_any_run(kw, error, match, tmp_path):
    with pytest.raises(error, match=match):
        plan_cells(sweep_config(_args(**kw)), tmp_path)
