"""Tests for benchmarks/sweep/{config,plan}.py: cells of the shipped configs, axes, settings, budgets, errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bbt_mp2.errors import ConfigError, UnknownNameError
from benchmarks.sweep import dry_run_table, estimate_seconds, load_sweep_config, plan_cells
from benchmarks.sweep.config import SweepConfig
from tests.benchmarks.fake_cells import write_user_task

CONFIGS = Path(__file__).resolve().parents[2] / "benchmarks" / "configs"
ZH_TASKS = ["amazon", "thucnews", "bq_corpus", "cmnli", "cmrc2018", "ccpm", "cote_mfw", "chnsenticorp", "tnews",
            "ocnli", "lcqmc", "drcd", "c3", "cote_bd"]


def test_paper_dry_run_plans_every_cell(tmp_path):
    cells = plan_cells(load_sweep_config(CONFIGS / "paper.yaml"), tmp_path)
    main = [c for c in cells if "main" in c.tracks]
    labels = [c for c in cells if "labels" in c.tracks]
    # 14 tasks x (4 black-box + 3 gradient methods) x 5 seeds; iflytek x 4 methods x 5 label counts x 5 seeds
    assert len(main) == 14 * 7 * 5 and len(labels) == 4 * 5 * 5 and len(cells) == len({c.id for c in cells})
    assert sorted({c.task for c in main}) == sorted(ZH_TASKS)
    assert {c.seed for c in cells} == {13, 21, 42, 87, 100} and {c.backbone for c in cells} == {"cpt-large"}
    for c in cells:
        if c.is_gradient:
            assert c.calls == 1000 and c.budget is None
        else:
            assert c.calls == 8000 and c.preset == "paper"  # the paper preset's 8K calls, router calls included
            assert c.checkpoint_label == ("shallow" if c.method == "mp2-shallow" else "deep")
    sub = [c for c in labels if c.labels == 10 and c.seed == 13]
    assert sub and all(c.task == "iflytek.labels10.s13" for c in sub)
    table = dry_run_table(cells)
    assert table.count("\n| ") == len(cells) and f"{len(cells)} cells" in table  # one line per cell
    assert all(estimate_seconds(c) > 0 for c in cells)


# cpu-small: main track 8 methods x 5 tasks x 3 seeds (120); selection track adds 2 rules x 3 unseen tasks x 3 seeds
# (18); zero-head track adds bbt/bbtv2 with the zero-prompt head on the 3 unseen tasks (18)
@pytest.mark.parametrize("name, n_cells", [("cpu-small", 120 + 18 + 18), ("smoke", 2)])
def test_shipped_configs_plan(name, n_cells, tmp_path):
    cells = plan_cells(load_sweep_config(CONFIGS / f"{name}.yaml"), tmp_path)
    assert len(cells) == n_cells


def test_cpu_small_tracks_share_cells_and_use_the_zero_head(tmp_path):
    cells = plan_cells(load_sweep_config(CONFIGS / "cpu-small.yaml"), tmp_path)
    zero = [c for c in cells if c.checkpoint_label == "zero"]
    assert {c.method for c in zero} == {"bbt", "bbtv2"} and all(c.tracks == ["zero-head"] for c in zero)
    assert all(c.checkpoint == "english-zero-head" for c in zero)
    shared = [c for c in cells if c.method == "mp2-deep" and c.settings_name == "metric"]
    unseen = [c for c in shared if c.task in ("sst2", "yelp_polarity", "rte")]
    assert len(shared) == 15 and len(unseen) == 9
    assert all(set(c.tracks) == ({"main", "selection"} if c in unseen else {"main"}) for c in shared)


def test_optimizers_small_swaps_the_tuning_stage(tmp_path):
    cells = plan_cells(load_sweep_config(CONFIGS / "optimizers-small.yaml"), tmp_path)
    assert len(cells) == 2 * 1 * 2 * 6  # methods x tasks x seeds x optimizers
    assert {c.optimizer for c in cells} == {None, "bo-ucb", "random", "ng:NGOpt", "ng:TBPSA", "ng:DiagonalCMA"}
    assert len({c.out_dir for c in cells}) == len(cells)


def _config(tmp_path: Path, **axes) -> SweepConfig:
    spec = write_user_task(tmp_path / "task")
    base = {"methods": ["bbt", "bbtv2"], "tasks": [str(spec)], "seeds": [1, 2]}
    base.update(axes)
    return SweepConfig.from_dict({"name": "t", "fixed": {"set": ["popsize=4"]}, "axes": base})


def test_budgets_per_method_and_shared_cells_carry_every_label(tmp_path):
    cfg = _config(tmp_path, budgets=[8, {"*": 16, "bbtv2": 8}])
    cells = plan_cells(cfg, tmp_path / "out")
    by = {(c.method, c.seed, c.budget): c for c in cells}
    assert len(cells) == 2 * 2 + 2  # bbt at 8 and 16, bbtv2 only at 8 (reached by both entries)
    assert by[("bbtv2", 1, 8)].budget_labels == ["8", "16,bbtv2=8"]
    assert by[("bbt", 1, 16)].budget_labels == ["16,bbtv2=8"] and by[("bbt", 1, 8)].calls == 8
    assert by[("bbt", 1, 8)].task == "toy" and by[("bbt", 1, 8)].source_task.endswith("toy.json")


def test_settings_variants_apply_by_key_and_dedupe_untouched_methods(tmp_path):
    cfg = _config(tmp_path, settings={"default": [], "wide": ["bbt:sigma=2.0"], "loss": ["selection=loss"]})
    cells = plan_cells(cfg, tmp_path / "out")
    names = {(c.method, c.settings_name) for c in cells}
    # bbtv2 has no `wide` setting: its `wide` run is its default run, planned once
    assert names == {("bbt", "default"), ("bbt", "wide"), ("bbt", "loss"), ("bbtv2", "default"), ("bbtv2", "loss")}
    wide = next(c for c in cells if c.settings_name == "wide")
    assert wide.overrides == {"popsize": 4, "sigma": 2.0} and "@set-wide@" in wide.id


@pytest.mark.parametrize("axes, error, match", [
    (dict(settings={"default": ["nosuchkey=1"]}), ConfigError, "nosuchkey"),
    (dict(settings={"default": ["mp2-deep:sigma=1"]}), ConfigError, "mp2-deep"),
    (dict(methods=["bbt", "bbt3"]), UnknownNameError, "bbt3"),
    (dict(optimizers=["no-such-opt"]), UnknownNameError, "no-such-opt"),
    (dict(budgets=[2]), ConfigError, "popsize"),
    (dict(labels=[5]), ConfigError, "labels=5"),
    (dict(tasks=["nosuchtask"]), UnknownNameError, "nosuchtask"),
])
def test_bad_cells_are_refused_before_any_run(tmp_path, axes, error, match):
    with pytest.raises(error, match=match):
        plan_cells(_config(tmp_path, **axes), tmp_path / "out")


@pytest.mark.parametrize("data, match", [
    ({"name": "x", "axes": {"methods": ["bbt"], "tasks": ["sst2"], "seeds": [1], "colour": [1]}}, "colour"),
    ({"name": "x", "axes": {"methods": ["bbt"], "tasks": ["sst2"]}}, "seeds"),
    ({"name": "x", "axes": {"methods": ["bbt"], "tasks": ["sst2"], "seeds": []}}, "non-empty"),
    ({"name": "x", "axes": {"methods": ["bbt"], "tasks": ["sst2"], "seeds": [1]}, "fixed": {"gpu": 1}}, "gpu"),
    ({"name": "x", "jobs": 2}, "jobs"),
    ({"name": "x", "axes": {"tasks": ["sst2"], "seeds": [1]}, "tracks": {"a": {"methods": ["bbt"]},
                                                                      "b": {"shots": [4]}}}, "track 'b'"),
])
def test_bad_configs_name_the_key(tmp_path, data, match):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match=match):
        load_sweep_config(path)


def test_missing_config_file_says_where_the_shipped_ones_are(tmp_path):
    with pytest.raises(ConfigError, match="benchmarks/configs"):
        load_sweep_config(tmp_path / "nope.yaml")
