"""Sweep execution: a sweep killed mid-cell (a real subprocess, SIGKILL) continues where it stopped and ends with
the results of an uninterrupted sweep; a failing cell is recorded and does not stop the others."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from benchmarks.sweep import cell_status, load_sweep_config, plan_cells, run_cell, run_sweep
from tests.benchmarks.fake_cells import write_user_task

REPO = Path(__file__).resolve().parents[2]


def _write_config(tmp_path: Path, **fixed) -> Path:
    spec = write_user_task(tmp_path / "task")
    cfg = {"name": "resume", "fixed": {"backend_factory": "tests.benchmarks.fake_cells:make_backend",
                                       "max_length": 32, "set": ["popsize=4", "eval_every=8"], **fixed},
           "axes": {"methods": ["bbt", "bbtv2"], "tasks": [str(spec)], "seeds": [13, 42], "budgets": [40]}}
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _env(sleep: float) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "FAKE_CELL_SLEEP": str(sleep), "HF_HUB_OFFLINE": "1"}


def _sweep_cmd(config: Path, out: Path) -> list[str]:
    code = "import sys; from bbt_mp2.cli import main; sys.exit(main(sys.argv[1:]))"
    return [sys.executable, "-c", code, "bench", "sweep", str(config), "--out", str(out), "--jobs", "1",
            "--no-progress"]


def _history_calls(out_dir: str) -> list[int]:
    path = Path(out_dir) / "history.jsonl"
    return [json.loads(line)["calls"] for line in path.read_text().splitlines()] if path.exists() else []


@pytest.mark.slow  # a real sweep subprocess, killed mid-run
def test_killed_sweep_resumes_to_the_uninterrupted_result(tmp_path):
    config = _write_config(tmp_path)
    out = tmp_path / "out"
    cells = plan_cells(load_sweep_config(config), out)
    proc = subprocess.Popen(_sweep_cmd(config, out), cwd=REPO, env=_env(0.25), start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:  # kill the whole process group once the second cell is mid-run (the first one finished)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            states = [cell_status(c.out_dir) for c in cells]
            if states.count("done") >= 1 and any(len(_history_calls(c.out_dir)) >= 3 and s == "partial"
                                                 for c, s in zip(cells, states)):
                break
            assert proc.poll() is None, proc.stderr.read().decode()
            time.sleep(0.05)
        else:
            raise AssertionError("the sweep never reached a cell in progress")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)
    interrupted = [c for c in cells if cell_status(c.out_dir) == "partial"]
    assert interrupted, [cell_status(c.out_dir) for c in cells]
    done_before = {c.id: Path(c.out_dir, "result.json").read_text() for c in cells if cell_status(c.out_dir) == "done"}
    calls_at_kill = {c.id: _history_calls(c.out_dir)[-1] for c in interrupted}

    rerun = subprocess.run(_sweep_cmd(config, out), cwd=REPO, env=_env(0.0), capture_output=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr.decode()[-3000:]
    assert all(cell_status(c.out_dir) == "done" for c in cells)
    for cid, text in done_before.items():  # finished cells were skipped, not rerun
        assert Path(out, "cells", cid, "result.json").read_text() == text
    for cell in interrupted:
        calls = _history_calls(cell.out_dir)
        assert calls == sorted(set(calls)) and calls[-1] == 40 and calls_at_kill[cell.id] in calls
        fresh = dict(cell.to_dict(), out_dir=str(tmp_path / "fresh" / cell.id))
        assert run_cell(fresh)["status"] == "done"
        resumed = json.loads(Path(cell.out_dir, "result.json").read_text())
        reference = json.loads(Path(fresh["out_dir"], "result.json").read_text())
        for key in ("best_train_loss", "calls", "tuned", "start"):
            assert resumed[key] == reference[key], key
        assert calls == _history_calls(fresh["out_dir"])


def test_a_failing_cell_is_recorded_and_the_others_finish(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(REPO))  # the spawned workers import the fake backend from tests/
    config = _write_config(tmp_path)
    data = yaml.safe_load(config.read_text())
    spec = write_user_task(tmp_path / "task2", name="toy2")
    data["axes"].update(tasks=data["axes"]["tasks"] + [str(spec)], methods=["bbt"])
    config.write_text(yaml.safe_dump(data))
    (tmp_path / "task2" / "train.jsonl").write_text('{"text": "x", "label": "nope"}\n')  # fails when read
    outcome = run_sweep(load_sweep_config(config), tmp_path / "out", jobs=1, show_progress=False)
    assert outcome.count("done") == 2 and outcome.count("failed") == 2
    failed = [c for c in outcome.cells if outcome.statuses[c.id] == "failed"]
    assert all(c.task == "toy2" for c in failed)
    error = json.loads(Path(failed[0].out_dir, "error.json").read_text())
    assert error["type"] == "DataError" and "nope" in error["message"] and "Traceback" in error["traceback"]
