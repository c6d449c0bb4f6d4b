"""Smoke of the in-process app (tiny backbone): register, evaluate equals the local backend, usage."""

from __future__ import annotations

import numpy as np

from tests.servers.conftest import make_key
from tests.servers.helpers import TASK, dataset_body, evaluate_body, toy_examples


def test_register_evaluate_usage(client, tiny_backend):  # noqa: ANN001
    h = make_key(client, budget=100)
    r = client.post("/v1/datasets", json=dataset_body(), headers=h)
    assert r.status_code == 201, r.text
    did = r.json()["id"]
    pop = np.random.default_rng(0).normal(size=(5, 1, 8)).astype(np.float32)
    r = client.post("/v1/evaluate", json=evaluate_body(did, pop), headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["calls"] == 5
    from bbt_mp2.backend import ProjectionSpec, PromptParam

    local_id = tiny_backend.register(TASK, toy_examples(), n_tokens=4, max_length=48)
    assert local_id == did
    want = tiny_backend.evaluate(did, PromptParam(layers=(0,), d=8, n_tokens=4,
                                                  projection=ProjectionSpec(kind="uniform", seed=1)), pop)
    np.testing.assert_allclose(r.json()["loss"], want.loss, rtol=1e-6)
    assert client.get("/v1/usage", headers=h).json()["used"] == 5
