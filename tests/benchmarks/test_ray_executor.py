"""The Ray executor against a local Ray instance started by the test (2 CPUs, loopback only, no dashboard),
in a subprocess with a time limit so a hung Ray cannot hang the suite."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.benchmarks.fake_cells import write_user_task

REPO = Path(__file__).resolve().parents[2]

SCRIPT = """
import json, sys
import ray
from benchmarks.sweep import load_sweep_config, run_sweep
ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False)
try:
    outcome = run_sweep(load_sweep_config(sys.argv[1]), sys.argv[2], executor="ray", threads=1, show_progress=False)
    print("STATUSES " + json.dumps(outcome.statuses))
finally:
    ray.shutdown()
"""


@pytest.mark.slow
def test_ray_executor_runs_every_cell_on_a_local_instance(tmp_path):
    pytest.importorskip("ray")
    spec = write_user_task(tmp_path / "task")
    config = tmp_path / "sweep.yaml"
    config.write_text(yaml.safe_dump({
        "name": "ray", "fixed": {"backend_factory": "tests.benchmarks.fake_cells:make_backend", "max_length": 32,
                                 "set": ["popsize=4", "eval_every=8"]},
        "axes": {"methods": ["bbt", "bbtv2"], "tasks": [str(spec)], "seeds": [13], "budgets": [16]}}))
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "RAY_USAGE_STATS_ENABLED": "0"}
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(config), str(out)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    line = next((x for x in proc.stdout.splitlines() if x.startswith("STATUSES ")), None)
    assert proc.returncode == 0 and line, proc.stdout[-2000:] + proc.stderr[-4000:]
    statuses = json.loads(line[len("STATUSES "):])
    assert statuses == {"minilm/toy/bbt@b16-seed13": "done", "minilm/toy/bbtv2@b16-seed13": "done"}
    for cid in statuses:
        result = json.loads((out / "cells" / cid / "result.json").read_text())
        assert result["calls"] == 16 and result["seed"] == 13
