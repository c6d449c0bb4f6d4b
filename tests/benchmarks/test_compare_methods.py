"""Tests for benchmarks/compare_methods.py: job planning, its errors, and the summary table."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from bbt_mp2.errors import ConfigError, UnknownNameError
from benchmarks.compare_methods import plan_jobs, summarize, to_markdown


def _args(**kw):
    base = dict(checkpoint=Path("deep"), shallow_checkpoint=Path("shallow"), tasks=["sst2", "rte"],
                methods=["bbt", "mp2-shallow", "mp2-router"], seeds=[13, 42], budget=["500", "mp2-router=80"],
                preset="reference", set=["popsize=10", "mp2-router:n_init=5"], max_length=96, backbone="minilm",
                device="cpu", threads=1, out=Path("out"))
    base.update(kw)
    return argparse.Namespace(**base)


def test_plan_covers_every_run_with_per_method_budgets_settings_and_checkpoints():
    jobs = plan_jobs(_args())
    assert len(jobs) == 2 * 3 * 2
    by = {(j["task"], j["method"], j["seed"]): j for j in jobs}
    assert by[("sst2", "bbt", 13)]["budget"] == 500 and by[("rte", "mp2-router", 42)]["budget"] == 80
    assert by[("sst2", "bbt", 13)]["overrides"] == {"popsize": 10}
    assert by[("sst2", "mp2-router", 13)]["overrides"] == {"popsize": 10, "n_init": 5}
    assert by[("sst2", "mp2-shallow", 13)]["checkpoint"] == "shallow"
    assert by[("sst2", "bbt", 13)]["checkpoint"] == "deep"
    assert by[("rte", "bbt", 42)]["out_dir"] == str(Path("out") / "rte" / "bbt-seed42")


@pytest.mark.parametrize("kw, error, match", [
    (dict(methods=["bbt", "bbt3"]), ConfigError, "bbt3"),
    (dict(tasks=["sst2", "nosuchtask"]), UnknownNameError, "nosuchtask"),
    (dict(set=["popsize"]), ConfigError, "KEY=VALUE"),
    (dict(set=["bbt4:popsize=3"]), ConfigError, "bbt4"),
    (dict(budget=["many"]), ConfigError, "many"),
])
def test_bad_sweeps_are_refused_before_any_run(kw, error, match):
    with pytest.raises(error, match=match):
        plan_jobs(_args(**kw))


def _result(task, method, seed, start, tuned):
    test = {"metric": tuned, "auc": 0.7, "majority_fraction": 0.6}
    return {"task": task, "method": method, "seed": seed, "metric": "acc", "calls": 100, "wall_time": 2.0,
            "start": {"dev_metric": 0.5, "test": {"metric": start}},
            "tuned": {"dev_metric": 0.75, "test": test}}


def test_summary_averages_seeds_per_task_and_method():
    s = summarize([_result("sst2", "bbt", 1, 0.5, 0.6), _result("sst2", "bbt", 2, 0.5, 0.8),
                   _result("sst2", "mp2-deep", 1, 0.7, 0.9)])
    rows = {(r["task"], r["method"]): r for r in s["rows"]}
    bbt = rows[("sst2", "bbt")]
    assert bbt["seeds"] == [1, 2] and bbt["tuned_test"] == pytest.approx(0.7)
    assert bbt["tuned_test_std"] == pytest.approx(0.1) and bbt["start_test"] == pytest.approx(0.5)
    md = to_markdown(s)
    assert "| sst2 | bbt | 2 | 0.500 -> **0.700** (0.100)" in md and "mp2-deep" in md
