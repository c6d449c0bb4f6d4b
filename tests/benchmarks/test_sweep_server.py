"""``bench sweep --server URL``: cells run through ``servers.client.RemoteBackend`` against a real ``bbt-mp2 serve``
process (real MiniLM, real SST-2, a tiny checkpoint pre-trained here), and land in an ordinary report."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from bbt_mp2.pretrain import PretrainConfig
from bbt_mp2.pretrain.trainer import pretrain

pytestmark = pytest.mark.slow

process = pytest.importorskip("tests.servers.process")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """6 steps of deep MP2 pre-training on mr (K=2, d=16, n=5): a real checkpoint in a few seconds."""
    cfg = PretrainConfig(seed=0, tasks=("mr",), deep=True, steps=6, batch_size=8, n_tokens=5, max_length=40,
                         n_modules=2, d=16, eval_every=0, save_every=6, dev_size=16, train_size=64,
                         backbone="minilm")
    return pretrain(cfg, tmp_path_factory.mktemp("pretrain"), device="cpu", progress=False)


def test_sweep_against_a_server(checkpoint, tmp_path):
    server = process.ServerProcess(tmp_path / "state", "--checkpoint", f"tiny={checkpoint}").start()
    try:
        key = server.add_key("sweep", 10_000)
        config = tmp_path / "sweep.yaml"
        config.write_text(yaml.safe_dump({
            "name": "remote", "checkpoints": {"tiny": "tiny"},  # the id the server serves it under
            "fixed": {"max_length": 40, "test_limit": 24, "set": ["popsize=5", "eval_every=5", "d=8"]},
            "axes": {"methods": ["bbt"], "tasks": ["sst2"], "seeds": [13], "budgets": [10],
                     "checkpoints": ["tiny"]}}))
        out = tmp_path / "out"
        env = dict(process.cli_env(), BBT_MP2_API_KEY=key)
        run = subprocess.run([*process.cli(), "bench", "sweep", str(config), "--out", str(out), "--server",
                              server.url, "--no-progress"], env=env, cwd=process.REPO, capture_output=True,
                             text=True, timeout=600)
        assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    finally:
        server.stop()
    cell = out / "cells" / "minilm" / "sst2" / "bbt@ckpt-tiny@b10-seed13"
    result = json.loads((cell / "result.json").read_text())
    assert result["calls"] == 10 and result["tuned"]["test"]["n"] == 24
    saved = json.loads((cell / "config.json").read_text())
    assert saved["run"]["method_config"]["checkpoint"] == "tiny"
    report = subprocess.run([*process.cli(), "bench", "report", str(out)], env=process.cli_env(), cwd=process.REPO,
                            capture_output=True, text=True, timeout=300)
    assert report.returncode == 0 and "bbt" in (out / "report" / "report.md").read_text()
    assert os.path.getsize(out / "report" / "cells.csv") > 0
