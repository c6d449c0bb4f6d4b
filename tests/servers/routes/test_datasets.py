"""``/v1/datasets``: content-addressed ids, per tenant, durable on disk, size limits, bad examples."""

from __future__ import annotations

from tests.servers.conftest import make_key
from tests.servers.helpers import dataset_body


def test_identical_content_same_id_and_files_on_disk(client, settings):  # noqa: ANN001
    h = make_key(client)
    a = client.post("/v1/datasets", json=dataset_body(), headers=h).json()
    b = client.post("/v1/datasets", json=dataset_body(), headers=h).json()
    c = client.post("/v1/datasets", json=dataset_body(offset=3), headers=h).json()
    assert a == b and a["id"] != c["id"] and a["n_examples"] == 8 and a["n_options"] == 2
    files = sorted(p.name for p in (settings.state_dir / "datasets").iterdir())
    assert files == sorted(f"{x['id']}.{ext}" for x in (a, c) for ext in ("json", "npz"))
    assert [d["id"] for d in client.get("/v1/datasets", headers=h).json()["datasets"]] == [a["id"], c["id"]]
    assert client.delete(f"/v1/datasets/{a['id']}", headers=h).status_code == 204
    assert client.get(f"/v1/datasets/{a['id']}", headers=h).status_code == 404
    assert client.delete(f"/v1/datasets/{a['id']}", headers=h).status_code == 404


def test_reloaded_from_disk_after_restart(settings, tiny_backend, tiny):  # noqa: ANN001
    from fastapi.testclient import TestClient

    from bbt_mp2.heads import MRCHead
    from bbt_mp2.local_backend import LocalBackend
    from servers.app import create_app

    with TestClient(create_app(settings, backend=tiny_backend)) as c:
        h = make_key(c)
        did = c.post("/v1/datasets", json=dataset_body(), headers=h).json()["id"]
    fresh = LocalBackend(tiny, MRCHead(32, seed=2))
    with TestClient(create_app(settings, backend=fresh)) as c:
        assert not fresh.has_dataset(did)
        assert c.get(f"/v1/datasets/{did}", headers=h).status_code == 200
        import numpy as np

        from tests.servers.helpers import evaluate_body

        assert c.post("/v1/evaluate", json=evaluate_body(did, np.zeros((1, 1, 8))), headers=h).status_code == 200
        assert fresh.has_dataset(did)


def test_limits_and_bad_examples(client):  # noqa: ANN001
    h = make_key(client)
    r = client.post("/v1/datasets", json=dataset_body(n=65), headers=h)
    assert r.status_code == 413 and "at most 64" in r.json()["error"]["message"]
    body = dataset_body()
    body["examples"][0]["fields"] = {"wrong": "x"}
    r = client.post("/v1/datasets", json=body, headers=h)
    assert r.status_code == 422 and "toy" in r.json()["error"]["message"], r.text
    body = dataset_body()
    body["examples"][1]["label"] = 7
    assert client.post("/v1/datasets", json=body, headers=h).status_code == 422
    r = client.post("/v1/datasets", json={"task": "no-such-task"}, headers=h)
    assert r.status_code == 404 and "no-such-task" in r.json()["error"]["message"]
    r = client.post("/v1/datasets", json={**dataset_body(), "max_length": 5000}, headers=h)
    assert r.status_code == 422 and "positions" in r.json()["error"]["message"]
    r = client.post("/v1/datasets", json={"task": "sst2", "task_spec": {}}, headers=h)
    assert r.status_code == 422


def test_max_length_defaults_to_the_task_type_capped_by_the_backbone(client):  # noqa: ANN001
    from bbt_mp2.encoding import default_max_length
    from tests.servers.helpers import TASK

    h = make_key(client)
    body = dataset_body()
    del body["max_length"]
    meta = client.post("/v1/datasets", json=body, headers=h).json()
    assert meta["max_length"] == default_max_length(TASK.type, 128)  # the tiny backbone has 128 positions
    assert meta["length"] <= meta["max_length"]


def test_builtin_task_with_seed_and_shots(client):  # noqa: ANN001
    h = make_key(client)
    small = client.post("/v1/datasets", json={"task": "sst2", "seed": 13, "shots": 2, "n_tokens": 4,
                                              "max_length": 64}, headers=h)
    assert small.status_code == 201, small.text
    assert small.json()["n_examples"] == 4 and small.json()["task"] == "sst2"  # 2 per class, 2 classes
    large = client.post("/v1/datasets", json={"task": "sst2", "seed": 13, "shots": 4, "n_tokens": 4,
                                              "max_length": 64}, headers=h).json()
    assert large["n_examples"] == 8 and large["id"] != small.json()["id"]
    other_seed = client.post("/v1/datasets", json={"task": "sst2", "seed": 42, "shots": 2, "n_tokens": 4,
                                                   "max_length": 64}, headers=h).json()
    assert other_seed["id"] != small.json()["id"]
    r = client.post("/v1/datasets", json={**dataset_body(), "shots": 2}, headers=h)
    assert r.status_code == 422 and "shots" in r.json()["error"]["message"]
