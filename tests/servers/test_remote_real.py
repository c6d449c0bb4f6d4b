"""End to end: the real ``bbt-mp2 serve`` process with the real MiniLM and real SST-2 data.

A tiny deep MP2 checkpoint is pre-trained here (a few steps of the pre-training API). BBT and MP2 through
``RemoteBackend`` reproduce the in-process runs; keys, tenants and budgets are enforced by the running server; a
server killed with SIGKILL mid-run loses no recorded call, and the resumed run ends as the uninterrupted one did.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from bbt_mp2.backbones import load_backbone
from bbt_mp2.local_backend import LocalBackend
from bbt_mp2.methods import tune
from bbt_mp2.pretrain import PretrainConfig
from bbt_mp2.pretrain.trainer import pretrain
from servers.client import RemoteBackend
from servers.wire import encode_array
from tests.servers.process import REPO, ServerProcess, cli_env
from tests.servers.remote_run import MAX_LENGTH, small_sst2

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def backbone():  # noqa: ANN201
    return load_backbone("minilm")


@pytest.fixture(scope="module")
def checkpoint(backbone, tmp_path_factory) -> Path:  # noqa: ANN001
    """6 steps of deep MP2 pre-training on mr (K=2, d=16, n=5): a real checkpoint in a few seconds."""
    cfg = PretrainConfig(seed=0, tasks=("mr",), deep=True, steps=6, batch_size=8, n_tokens=5, max_length=40,
                         n_modules=2, d=16, eval_every=0, save_every=6, dev_size=16, train_size=64,
                         backbone="minilm")
    return pretrain(cfg, tmp_path_factory.mktemp("pretrain"), backbone=backbone, device="cpu", progress=False)


@pytest.fixture(scope="module")
def server(checkpoint, tmp_path_factory):  # noqa: ANN001, ANN201
    root = tmp_path_factory.mktemp("serve")
    proc = ServerProcess(root / "state", "--checkpoint", f"tiny={checkpoint}").start()
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def split():  # noqa: ANN201
    return small_sst2()


def _history(run: Path) -> list[dict]:
    return [json.loads(x) for x in (run / "history.jsonl").read_text().splitlines()]


def _same_run(a: Path, b: Path) -> None:
    ha, hb = _history(a), _history(b)
    assert len(ha) == len(hb) > 0
    for x, y in zip(ha, hb):
        assert (x["stage"], x["calls"], x["dev_calls"]) == (y["stage"], y["calls"], y["dev_calls"])
        for k in ("loss_min", "loss_mean", "best_loss", "train_metric_max"):
            assert x[k] == pytest.approx(y[k], abs=1e-5), k
        assert (x["dev_metric"] is None) == (y["dev_metric"] is None)
        if x["dev_metric"] is not None:
            assert x["dev_metric"] == pytest.approx(y["dev_metric"], abs=1e-5)
    ra, rb = (json.loads((r / "result.json").read_text()) for r in (a, b))
    assert ra["tuned"]["selected_at_calls"] == rb["tuned"]["selected_at_calls"]
    for k in ("metric", "loss", "auc"):
        assert ra["tuned"]["test"][k] == pytest.approx(rb["tuned"]["test"][k], abs=1e-5), k
    assert ra["tuned"]["test"]["predicted_distribution"] == rb["tuned"]["test"]["predicted_distribution"]
    np.testing.assert_allclose(np.load(a / "best_params.npy"), np.load(b / "best_params.npy"), atol=1e-6)


@pytest.mark.parametrize(
    "method, budget, overrides",
    [("bbt", 24, {"popsize": 8, "eval_every": 8, "d": 50}),
     ("mp2-deep", 12, {"budget_router": 4, "n_init": 4, "popsize": 4, "eval_every": 4, "eval_every_router": 2})],
)
def test_remote_run_reproduces_the_in_process_run(method, budget, overrides, server, backbone, checkpoint, split,
                                                  tmp_path):  # noqa: ANN001
    local = LocalBackend.from_checkpoint(backbone, checkpoint)
    tune("sst2", method, 13, budget, backend=local, checkpoint=checkpoint, out_dir=tmp_path / "local", data=split,
         max_length=MAX_LENGTH, overrides=overrides)
    with RemoteBackend(server.url, server.add_key(f"t-{method}", 10_000)) as remote:
        res = tune("sst2", method, 13, budget, backend=remote, checkpoint="tiny", out_dir=tmp_path / "remote",
                   data=split, max_length=MAX_LENGTH, overrides=overrides)
        usage = remote.usage()
    _same_run(tmp_path / "local", tmp_path / "remote")
    assert usage["used"] == res.calls + res.dev_calls + res.control_calls == remote.n_calls
    config = json.loads((tmp_path / "remote" / "config.json").read_text())
    assert config["checkpoint"]["id"] == "tiny"
    assert config["checkpoint"]["sha256"] == local.info().checkpoints[str(checkpoint.resolve())]["sha256"]


def test_keys_tenants_budgets_and_retries_on_the_real_server(server, split):  # noqa: ANN001
    from bbt_mp2.tasks import get_task
    from servers.wire import example_to_dict, task_to_dict

    alice, bob = server.add_key("alice", 12), server.add_key("bob", 100)
    auth = {"Authorization": f"Bearer {alice}"}
    body = {"task_spec": task_to_dict(get_task("sst2")), "examples": [example_to_dict(e) for e in split.train[:16]],
            "n_tokens": 5, "max_length": MAX_LENGTH}
    assert httpx.post(server.url + "/v1/datasets", json=body).status_code == 401
    did = httpx.post(server.url + "/v1/datasets", json=body, headers=auth).json()["id"]
    pop = np.random.default_rng(0).normal(size=(5, 1, 50))
    ev = {"dataset_id": did, "param": {"layers": [0], "d": 50, "n_tokens": 5}, "population": encode_array(pop),
          "request_id": "retry-1"}
    assert httpx.post(server.url + "/v1/evaluate", json=ev).status_code == 401
    r = httpx.post(server.url + "/v1/evaluate", json=ev, headers={"Authorization": f"Bearer {bob}"})
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    first = httpx.post(server.url + "/v1/evaluate", json=ev, headers=auth, timeout=60).json()
    again = httpx.post(server.url + "/v1/evaluate", json=ev, headers=auth, timeout=60).json()
    assert (first["calls"], again["calls"], again["loss"]) == (5, 0, first["loss"])
    used = httpx.get(server.url + "/v1/usage", headers=auth).json()["used"]
    assert used == 5
    big = dict(ev, request_id="too-big", population=encode_array(np.zeros((8, 1, 50))))
    r = httpx.post(server.url + "/v1/evaluate", json=big, headers=auth, timeout=60)
    assert r.status_code == 429 and r.json()["error"]["code"] == "budget_exceeded"
    assert httpx.get(server.url + "/v1/usage", headers=auth).json()["used"] == used


def _client(url: str, key: str, out: Path, budget: int, *resume: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(REPO / "tests" / "servers" / "remote_run.py"), url, key, str(out),
                             str(budget), *resume], env=cli_env(), cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)


def test_sigkill_restart_and_resume_end_like_the_uninterrupted_run(checkpoint, tmp_path):  # noqa: ANN001
    budget = 48
    server = ServerProcess(tmp_path / "state", "--checkpoint", f"tiny={checkpoint}").start()
    try:
        key, ref_key = server.add_key("crash", 10_000), server.add_key("reference", 10_000)
        run = tmp_path / "run"
        client = _client(server.url, key, run, budget)
        deadline = time.monotonic() + 300
        while not (run / "history.jsonl").is_file() or len(_history(run)) < 2:
            assert client.poll() is None, client.stdout.read().decode()[-3000:]
            assert time.monotonic() < deadline, "the client made no progress"
            time.sleep(0.05)
        server.kill()  # SIGKILL mid-run: the client is in a request or about to send one
        time.sleep(0.3)
        client.kill()
        client.wait(30)
        assert not (run / "result.json").exists() and len(_history(run)) < budget // 8
        server.start()  # same state directory, new port
        resumed = _client(server.url, key, run, budget, "--resume")
        assert resumed.wait(600) == 0, resumed.stdout.read().decode()[-3000:]
        reference = _client(server.url, ref_key, tmp_path / "reference", budget)
        assert reference.wait(600) == 0, reference.stdout.read().decode()[-3000:]
        _same_run(run, tmp_path / "reference")
        result = json.loads((run / "result.json").read_text())
        usage = RemoteBackend(server.url, key).usage()
        assert usage["used"] == result["calls"] + result["dev_calls"] + result["control_calls"]
    finally:
        server.stop()
