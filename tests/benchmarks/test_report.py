"""Tests for benchmarks/report: aggregation of hand-made run directories (mean, std, budget matching, missing and
failed cells), calls to a fraction of the final dev score, seed bands, and the written report."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bbt_mp2.errors import ConfigError
from benchmarks.report import (
    axis_table,
    build_report,
    calls_to_fraction,
    load_records,
    main_tables,
    seed_band,
    write_report,
)
from benchmarks.sweep.plan import Cell


def _cell(out: Path, method: str, task: str, seed: int, budget: int | None, label: str) -> Cell:
    cid = f"minilm/{task}/{method}@b{budget}-seed{seed}"
    return Cell(id=cid, out_dir=str(out / "cells" / cid), method=method, task=task, source_task=task, seed=seed,
                budget=budget, budget_labels=[label], preset="reference", settings_name="default", overrides={},
                optimizer=None, backbone="minilm", checkpoint_label="deep", checkpoint="english-deep", shots=None,
                labels=None, task_label=task, checkpoint_entry="deep", calls=budget or 20)


def _done(cell: Cell, test: float, dev: float = 0.8, start_dev: float = 0.5, wall: float = 10.0,
          start_test: float = 0.5) -> None:
    out = Path(cell.out_dir)
    out.mkdir(parents=True)
    history = [{"calls": c, "best_dev": d, "best_loss": 1.0 - d, "dev_metric": d}
               for c, d in ((10, start_dev), (20, 0.7), (30, dev))]
    (out / "history.jsonl").write_text("".join(json.dumps(h) + "\n" for h in history))
    result = {"task": cell.task, "method": cell.method, "seed": cell.seed, "metric": "acc", "calls": cell.calls,
              "wall_time": wall, "start": {"dev_metric": start_dev, "test": {"metric": start_test}},
              "tuned": {"dev_metric": dev, "test": {"metric": test, "auc": 0.6, "majority_fraction": 0.5}}}
    (out / "result.json").write_text(json.dumps(result))
    (out / "config.json").write_text(json.dumps({"checkpoint": {"id": "english-deep", "sha256": "ab" * 32},
                                                 "backend": {"dtype": "float32"}}))


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    """bbt and mp2-deep at budget 100 on sst2 and rte, 3 seeds; bbt also at 200 on sst2; a gradient baseline.

    mp2-deep on rte: seed 3 failed, seed 2 interrupted; bbt at 200: seed 3 never ran."""
    cells = []
    tests = {("bbt", "sst2"): [0.5, 0.6, 0.7], ("bbt", "rte"): [0.4, 0.5, 0.6],
             ("mp2-deep", "sst2"): [0.8, 0.8, 0.9], ("mp2-deep", "rte"): [0.55]}
    for (method, task), values in tests.items():
        for seed in (1, 2, 3):
            cell = _cell(tmp_path, method, task, seed, 100, "100")
            cells.append(cell)
            if seed <= len(values):
                _done(cell, values[seed - 1])
    failed = next(c for c in cells if c.method == "mp2-deep" and c.task == "rte" and c.seed == 3)
    Path(failed.out_dir).mkdir(parents=True)
    (Path(failed.out_dir) / "error.json").write_text(json.dumps({"type": "BackendError", "message": "boom"}))
    partial = next(c for c in cells if c.method == "mp2-deep" and c.task == "rte" and c.seed == 2)
    Path(partial.out_dir).mkdir(parents=True)
    (Path(partial.out_dir) / "config.json").write_text("{}")
    for seed, value in ((1, 0.9), (2, 0.7)):
        cell = _cell(tmp_path, "bbt", "sst2", seed, 200, "200")
        cells.append(cell)
        _done(cell, value)
    cells.append(_cell(tmp_path, "bbt", "sst2", 3, 200, "200"))
    grad = _cell(tmp_path, "grad:prompt-tuning", "sst2", 1, None, "grad")
    cells.append(grad)
    _done(grad, 0.75)
    sweep = {"config": {"name": "hand", "description": "hand-made"}, "written": "now",
             "machine": {"host": "h", "processor": "x86", "cores": 2, "python": "3.11", "torch": "2", "gpu": None},
             "cells": [c.to_dict() for c in cells]}
    (tmp_path / "sweep.json").write_text(json.dumps(sweep))
    return tmp_path


def _table(tables, budget):
    return next(t for t in tables if t.title.endswith(f"budget {budget}"))


def test_tables_average_seeds_and_match_budgets(sweep):
    records = load_records(sweep)
    statuses = [r.status for r in records]
    assert len(records) == 16 and statuses.count("done") == 13
    assert statuses.count("failed") == 1 and statuses.count("partial") == 1 and statuses.count("missing") == 1
    tables = main_tables(records)
    assert len(tables) == 2  # one per budget; the gradient row joins both
    t100 = _table(tables, 100)
    rows = dict(t100.rows)
    assert t100.columns == ["sst2", "rte", "avg"]
    assert rows["bbt"] == ["60.0 ± 8.2", "50.0 ± 8.2", "**55.0 ± 8.2**"]  # per-seed task means 0.45, 0.55, 0.65
    assert rows["mp2-deep"][0] == f"83.3 ± {100 * np.std([0.8, 0.8, 0.9]):.1f}"
    assert rows["mp2-deep"][1] == "55.0 ± 0.0 (1/3, 1 failed)"  # never averaged away: 1 of 3 seeds, 1 failed
    assert rows["mp2-deep"][2] == "incomplete"
    assert rows["grad:prompt-tuning (20 steps)"] == ["75.0 ± 0.0", "not planned", "incomplete"]
    t200 = dict(_table(tables, 200).rows)
    assert t200["bbt"] == ["80.0 ± 10.0 (2/3)", "incomplete"]  # budget 200 never mixed with budget 100
    csv_row = next(r for r in t100.csv_rows if r["row"] == "bbt")
    assert csv_row["sst2_mean"] == pytest.approx(0.6) and csv_row["avg_std"] == pytest.approx(np.std([.45, .55, .65]))


def test_start_tables_show_the_untuned_start_in_the_same_layout(sweep):
    records = load_records(sweep)
    first = next(r for r in records if r.cell.method == "bbt" and r.cell.task == "rte" and r.cell.seed == 1)
    Path(first.cell.out_dir, "result.json").unlink()
    _done_dir = Path(first.cell.out_dir)
    for name in ("history.jsonl", "config.json"):
        (_done_dir / name).unlink()
    _done_dir.rmdir()
    _done(first.cell, 0.4, start_test=0.2)  # the start differs from the tuned value and from the other seeds
    records = load_records(sweep)
    start = dict(_table(main_tables(records, "start_test"), 100).rows)
    tuned = dict(_table(main_tables(records), 100).rows)
    assert start["bbt"][1] == f"40.0 ± {100 * np.std([0.2, 0.5, 0.5]):.1f}" and tuned["bbt"][1] == "50.0 ± 8.2"
    assert start["mp2-deep"][1] == "50.0 ± 0.0 (1/3, 1 failed)"
    assert main_tables(records, "start_test")[0].title.startswith("Untuned start, test metric")
    md, csvs, _ = build_report(sweep)
    assert "start1.csv" in csvs and "Untuned start" in md
    assert "loss1.csv" in csvs and "Best training loss" in md


def test_train_loss_tables_read_the_best_training_loss(sweep):
    records = load_records(sweep)
    for r in records:
        if r.result is not None:
            r.result["best_train_loss"] = 0.1 * r.cell.seed
    rows = dict(_table(main_tables(records, "train_loss"), 100).rows)
    assert rows["bbt"][0] == f"20.0 ± {100 * np.std([0.1, 0.2, 0.3]):.1f}"  # x100, mean over seeds 1..3
    assert main_tables(records, "train_loss")[0].title.startswith("Best training loss")


def test_report_writes_markdown_csv_and_png(sweep):
    paths = write_report(sweep, fraction=0.9)
    md = paths["markdown"].read_text()
    assert "# Sweep `hand`" in md and "2 cores" in md and "sha256 abababababababab" in md
    assert "budget 100" in md and "budget 200" in md
    assert "failed: BackendError: boom" in md and "interrupted (resumable)" in md and "not run" in md
    cells_csv = (sweep / "report" / "cells.csv").read_text().splitlines()
    assert len(cells_csv) == 1 + 16 and sum(",failed," in line for line in cells_csv) == 1
    assert {p.name for p in paths["csv"]} >= {"cells.csv", "table1.csv", "table2.csv", "speed.csv"}
    assert paths["png"] and all(p.stat().st_size > 1000 for p in paths["png"])


def test_calls_to_fraction_reads_the_selected_dev_curve(sweep):
    records = {(r.cell.method, r.cell.task, r.cell.seed, r.cell.budget): r for r in load_records(sweep)}
    r = records[("bbt", "sst2", 1, 100)]  # dev 0.5 -> 0.7 at 20 calls -> 0.8 at 30
    assert calls_to_fraction(r, 0.85) == 20 and calls_to_fraction(r, 1.0) == 30 and calls_to_fraction(r, 0.5) == 0
    assert calls_to_fraction(records[("mp2-deep", "rte", 3, 100)], 0.9) is None  # failed: no value
    md, _, _ = build_report(sweep, fraction=0.85)
    assert "Calls to reach 85% of the final dev score" in md


def test_seed_band_holds_each_seed_after_its_first_record():
    grid, mean, std = seed_band([(np.array([1.0, 3.0]), np.array([0.0, 1.0])),
                                 (np.array([2.0, 3.0]), np.array([2.0, 3.0]))])
    assert grid.tolist() == [1, 2, 3] and mean.tolist() == [0.0, 1.0, 2.0] and std.tolist() == [0.0, 1.0, 1.0]


def test_report_of_a_directory_without_a_sweep_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="sweep.json"):
        write_report(tmp_path)
    with pytest.raises(ConfigError, match="fraction"):
        build_report(tmp_path, fraction=1.5)


def test_metric_against_shots_per_method_and_task(tmp_path):
    cells = []
    for shots, values in ((2, [0.5, 0.6]), (8, [0.7, 0.9])):
        for seed, value in zip((1, 2), values):
            cell = _cell(tmp_path, "bbt", "sst2", seed, 100, "100")
            cell.shots = shots
            cell.id += f"@k{shots}"
            cell.out_dir += f"@k{shots}"
            cells.append(cell)
            _done(cell, value)
    other = _cell(tmp_path, "bbt", "rte", 1, 100, "100")  # one shots value only: no row
    cells.append(other)
    _done(other, 0.1)
    (tmp_path / "sweep.json").write_text(json.dumps({"config": {"name": "s"}, "cells": [c.to_dict() for c in cells]}))
    table = axis_table(load_records(tmp_path), "shots")
    assert table.columns == ["shots=2", "shots=8", "shots=task default"]
    assert table.rows == [("bbt / sst2", ["55.0 ± 5.0", "80.0 ± 10.0", "not planned"])]
    assert axis_table(load_records(tmp_path), "labels") is None
