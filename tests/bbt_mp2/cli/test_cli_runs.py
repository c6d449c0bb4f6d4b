"""Tests for bbt_mp2/cli/runs.py: one row per run directory, finished / interrupted / failed."""

from __future__ import annotations

import json
import pickle

from bbt_mp2.cli import main


def _run(path, *, task="sst2", method="bbt", seed=13, result=None, failure=None, history=()):
    path.mkdir(parents=True)
    (path / "config.json").write_text(json.dumps({"run": {"task": task, "method": method, "seed": seed,
                                                          "method_config": {"budget": 100}}}))
    (path / "state.pkl").write_bytes(pickle.dumps({"calls": 0}))
    (path / "history.jsonl").write_text("".join(json.dumps(h) + "\n" for h in history))
    if result is not None:
        (path / "result.json").write_text(json.dumps(result))
    if failure is not None:
        (path / "failure.json").write_text(json.dumps(failure))
    return path


def _result(dev=(0.5, 0.625), test=(0.55, 0.6)):
    return {"calls": 100, "budget": 100,
            "start": {"dev_metric": dev[0], "test": None if test is None else {"metric": test[0]}},
            "tuned": {"dev_metric": dev[1], "test": None if test is None else {"metric": test[1]}}}


def test_runs_table_tells_finished_interrupted_and_failed_apart(tmp_path, capsys):
    _run(tmp_path / "runs" / "a", result=_result())
    _run(tmp_path / "runs" / "b", method="mp2-deep", seed=21, history=[{"calls": 40, "best_dev": 0.5625}])
    _run(tmp_path / "runs" / "c", method="bbtv2", history=[{"calls": 20, "best_dev": 0.5}],
         failure={"error": "BackendError", "message": "server gone"})
    _run(tmp_path / "mine", task="moviereviews", result=_result(test=None))
    (tmp_path / "runs" / "ckpt").mkdir()  # a checkpoint directory is not a run
    (tmp_path / "runs" / "ckpt" / "config.json").write_text(json.dumps({"backbone": "minilm"}))
    assert main(["runs", str(tmp_path / "runs"), str(tmp_path / "mine")]) == 1  # 1: some run failed
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["run", "task", "method", "seed", "calls", "dev", "test", "status"]
    rows = {line.split()[0].rsplit("/", 1)[-1]: line for line in lines[1:-1]}
    assert sorted(rows) == ["a", "b", "c", "mine"]
    assert rows["a"].split()[1:] == ["sst2", "bbt", "13", "100/100", "0.5000", "->", "0.6250", "0.5500", "->",
                                     "0.6000", "finished"]
    assert rows["b"].split()[1:] == ["sst2", "mp2-deep", "21", "40/100", "best", "0.5625", "-", "interrupted"]
    assert rows["c"].endswith("failed: BackendError: server gone") and "20/100" in rows["c"]
    assert "none (no test file)" in rows["mine"] and rows["mine"].endswith("finished")
    assert lines[-1] == "4 runs: 2 finished, 1 interrupted, 1 failed"


def test_runs_errors(tmp_path, capsys):
    assert main(["runs", str(tmp_path / "nope")]) == 2
    assert "nope: no such directory" in capsys.readouterr().err
    assert main(["runs", str(tmp_path)]) == 2
    assert "holds no tuning run" in capsys.readouterr().err
