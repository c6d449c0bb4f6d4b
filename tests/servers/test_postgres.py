"""Two real server replicas on one PostgreSQL: shared datasets and keys, every call counted exactly once.

Needs a PostgreSQL server: ``.ci/run`` starts one from Debian's packages and sets ``BBT_MP2_TEST_POSTGRES``
(``postgresql+psycopg2://user:password@host:port/db``).
"""

from __future__ import annotations

import os
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest

from bbt_mp2.tasks import fewshot, get_task
from servers.storage import Storage
from servers.wire import encode_array, example_to_dict, task_to_dict
from tests.servers.process import ServerProcess

URL = os.environ.get("BBT_MP2_TEST_POSTGRES")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not URL, reason="BBT_MP2_TEST_POSTGRES is not set (.ci/run starts a PostgreSQL and sets it)"),
]


def test_storage_charges_once_and_never_passes_the_budget_under_concurrency():
    storage = Storage(URL)
    try:
        _, rec = storage.create_key(f"pg-{uuid.uuid4().hex[:8]}", 50, 100.0)

        def charge(i: int) -> int:
            try:
                return storage.charge(rec.id, f"req-{i % 20}", 3, {"calls": 3})["calls"]
            except Exception:  # noqa: BLE001 - budget refusals are expected past 50 calls
                return -1

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(charge, range(60)))  # 20 distinct request ids, each sent 3 times
        used = storage.key(rec.id).used
        assert used == 48  # 16 distinct requests fit in 50; retries of an answered id are never charged again
    finally:
        storage.close()


def test_two_replicas_share_datasets_and_count_every_call_once(tmp_path):  # noqa: ANN001
    a = ServerProcess(tmp_path / "a", database=URL).start()
    b = ServerProcess(tmp_path / "b", database=URL)
    try:
        b.start()
        key = a.add_key(f"pg-{uuid.uuid4().hex[:8]}", 10_000)
        auth = {"Authorization": f"Bearer {key}"}
        split = fewshot("sst2", 13)
        body = {"task_spec": task_to_dict(get_task("sst2")), "examples": [example_to_dict(e) for e in split.train],
                "n_tokens": 5, "max_length": 64}
        did = httpx.post(a.url + "/v1/datasets", json=body, headers=auth, timeout=120).json()["id"]
        assert httpx.get(f"{b.url}/v1/datasets/{did}", headers=auth).status_code == 200  # b's disk lacks it

        def evaluate(i: int) -> int:
            pop = np.random.default_rng(i).normal(size=(4, 1, 50))
            req = {"dataset_id": did, "param": {"layers": [0], "d": 50, "n_tokens": 5},
                   "population": encode_array(pop), "request_id": f"r{i}"}
            calls = 0
            for server in (a, b) if i % 2 else (b, a):  # every request is retried through the other replica
                r = httpx.post(server.url + "/v1/evaluate", json=req, headers=auth, timeout=300)
                assert r.status_code == 200, r.text
                calls += r.json()["calls"]
            return calls

        with ThreadPoolExecutor(4) as pool:
            charged = list(pool.map(evaluate, range(12)))
        assert charged == [4] * 12
        for server in (a, b):
            assert httpx.get(server.url + "/v1/usage", headers=auth).json()["used"] == 48
    finally:
        a.stop()
        b.stop()
