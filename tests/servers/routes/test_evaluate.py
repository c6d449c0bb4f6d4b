"""``/v1/evaluate`` and ``/v1/predict``: validation before any forward pass, budgets, idempotent retries."""

from __future__ import annotations

import base64

import numpy as np
import pytest

from tests.servers.conftest import make_key
from tests.servers.helpers import dataset_body, evaluate_body


@pytest.fixture()
def ds(client):  # noqa: ANN001, ANN201
    h = make_key(client, budget=50)
    did = client.post("/v1/datasets", json=dataset_body(), headers=h).json()["id"]
    return h, did


def _calls(client) -> int:  # noqa: ANN001
    return client.app.state.service.backend.n_calls


def _error(r, status: int, code: str, match: str = "") -> dict:  # noqa: ANN001
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["code"] == code and match in err["message"], err
    return err


def test_no_key_or_unknown_key_is_401(client, ds):  # noqa: ANN001
    _, did = ds
    body = evaluate_body(did, np.zeros((1, 1, 8)))
    _error(client.post("/v1/evaluate", json=body), 401, "unauthorized", "Bearer")
    _error(client.post("/v1/evaluate", json=body, headers={"Authorization": "Bearer bbt_nope"}), 401,
           "unauthorized", "unknown or revoked")
    storage = client.app.state.service.storage
    key, rec = storage.create_key("carol", 10, 100.0)
    storage.revoke_key(rec.id)
    _error(client.get("/v1/usage", headers={"Authorization": f"Bearer {key}"}), 401, "unauthorized")


def test_other_tenants_dataset_is_404(client, ds):  # noqa: ANN001
    _, did = ds
    bob = make_key(client, tenant="bob")
    _error(client.post("/v1/evaluate", json=evaluate_body(did, np.zeros((1, 1, 8))), headers=bob), 404,
           "not_found", did)
    _error(client.get(f"/v1/datasets/{did}", headers=bob), 404, "not_found")
    assert client.get("/v1/datasets", headers=bob).json() == {"datasets": []}
    # the same content registered by bob gets the same id, now his too
    assert client.post("/v1/datasets", json=dataset_body(), headers=bob).json()["id"] == did
    assert client.post("/v1/evaluate", json=evaluate_body(did, np.zeros((1, 1, 8))), headers=bob).status_code == 200


def test_budget_exhaustion_refuses_whole_request_and_counts_nothing(client, ds):  # noqa: ANN001
    h, did = ds
    pop = np.random.default_rng(1).normal(size=(40, 1, 8))
    assert client.post("/v1/evaluate", json=evaluate_body(did, pop), headers=h).json()["calls"] == 40
    before = _calls(client)
    _error(client.post("/v1/evaluate", json=evaluate_body(did, pop[:11]), headers=h), 429, "budget_exceeded",
           "needs 11 calls but the key has 10 of 50 left")
    assert client.get("/v1/usage", headers=h).json()["used"] == 40 and _calls(client) == before
    assert client.post("/v1/evaluate", json=evaluate_body(did, pop[:10]), headers=h).status_code == 200
    assert client.get("/v1/usage", headers=h).json() == {"tenant": "alice", "key_prefix": h["Authorization"][7:19],
                                                         "budget": 50, "used": 50, "remaining": 0, "rate": 1000.0}


def test_retried_request_is_charged_once(client, ds):  # noqa: ANN001
    h, did = ds
    body = evaluate_body(did, np.random.default_rng(2).normal(size=(3, 1, 8)), request_id="run1-gen7")
    first = client.post("/v1/evaluate", json=body, headers=h).json()
    again = client.post("/v1/evaluate", json=body, headers=h).json()
    assert first["calls"] == 3 and again["calls"] == 0 and again["loss"] == first["loss"]
    assert client.get("/v1/usage", headers=h).json()["used"] == 3


@pytest.mark.parametrize(
    "mutate, status, code, match",
    [
        (lambda b: b["population"].update(shape=[2, 1, 7]), 422, "shape_error", "expected ['P', 1, 8]"),
        (lambda b: b["population"].update(shape=[2, 1, 8]), 422, "shape_error", "bytes; shape [2, 1, 8]"),
        (lambda b: b["population"].update(data="!!notbase64"), 422, "shape_error", "not valid base64"),
        (lambda b: b["population"].update(data=base64.b64encode(np.zeros((1, 1, 8), np.float64).tobytes())
                                          .decode()), 422, "shape_error", "64 bytes; shape [1, 1, 8]"),
        (lambda b: b["population"].update(shape=[65, 1, 8]), 413, "too_large", "at most 64"),
        (lambda b: b["param"].update(n_tokens=5), 422, "shape_error", "registered with n_tokens=4"),
        (lambda b: b["param"].update(layers=[0, 7]), 422, "invalid_value", "out of range"),
        (lambda b: b["param"].update(layers=[1, 0]), 422, "invalid_value", "strictly increasing"),
        (lambda b: b["param"].update(head="ghost"), 404, "not_found", "checkpoint 'ghost'"),
        (lambda b: b["param"].update(projection={"kind": "learned", "checkpoint": "tiny-ckpt"}), 409,
         "checkpoint_conflict", "has d=6"),
        (lambda b: b.update(dataset_id="ds-0000"), 404, "not_found", "ds-0000"),
        (lambda b: b.update(loss="hinge"), 422, "invalid_request", "loss"),
        (lambda b: b.update(extra=1), 422, "invalid_request", "extra"),
        (lambda b: b["param"].update(d=-1), 422, "invalid_request", "param.d"),
    ],
)
def test_bad_requests_answered_before_any_forward_pass(client, ds, mutate, status, code, match):  # noqa: ANN001
    h, did = ds
    body = evaluate_body(did, np.zeros((1, 1, 8)))
    mutate(body)
    before = _calls(client)
    _error(client.post("/v1/evaluate", json=body, headers=h), status, code, match)
    assert _calls(client) == before and client.get("/v1/usage", headers=h).json()["used"] == 0


def test_nan_inf_and_malformed_json(client, ds):  # noqa: ANN001
    h, did = ds
    for bad in (np.nan, np.inf):
        pop = np.zeros((2, 1, 8), dtype=np.float32)
        pop[1, 0, 3] = bad
        _error(client.post("/v1/evaluate", json=evaluate_body(did, pop), headers=h), 422, "shape_error", "NaN or inf")
    r = client.post("/v1/evaluate", content=b'{"dataset_id": ', headers={**h, "Content-Type": "application/json"})
    _error(r, 422, "invalid_request", "JSON")
    _error(client.post("/v1/evaluate", content=b"[1, 2]", headers={**h, "Content-Type": "application/json"}), 422,
           "invalid_request")


def test_oversize_body_is_413_before_parsing(client, ds):  # noqa: ANN001
    h, _ = ds
    r = client.post("/v1/evaluate", content=b"x" * 300_000, headers={**h, "Content-Type": "application/json"})
    _error(r, 413, "too_large", "200000 bytes")


def test_rate_limit_429_with_retry_after(client, ds):  # noqa: ANN001
    slow = make_key(client, tenant="slow", rate=0.5)
    assert client.get("/v1/usage", headers=slow).status_code == 200
    r = client.get("/v1/usage", headers=slow)
    _error(r, 429, "rate_limited", "0.5 requests/s")
    assert int(r.headers["retry-after"]) >= 1


def test_predict_counts_one_call_and_matches_local(client, ds, tiny_backend):  # noqa: ANN001
    from bbt_mp2.backend import ProjectionSpec, PromptParam
    from servers.wire import decode_array, encode_array

    h, did = ds
    cand = np.random.default_rng(3).normal(size=(1, 8)).astype(np.float32)
    body = {"dataset_id": did, "param": evaluate_body(did, cand[None])["param"], "candidate": encode_array(cand)}
    out = client.post("/v1/predict", json=body, headers=h).json()
    assert out["calls"] == 1 and client.get("/v1/usage", headers=h).json()["used"] == 1
    want = tiny_backend.predict(did, PromptParam(layers=(0,), d=8, n_tokens=4,
                                                 projection=ProjectionSpec(kind="uniform", seed=1)), cand)
    assert out["predicted"] == want.predicted.tolist() and out["metric"] == pytest.approx(want.metric)
    scores = decode_array(out["scores"]["shape"], out["scores"]["data"], max_values=10_000)
    np.testing.assert_allclose(scores, want.scores, rtol=1e-5)


def test_learned_projection_and_checkpoint_modules(client, tiny_backend):  # noqa: ANN001
    from servers.wire import decode_array

    h = make_key(client)
    did = client.post("/v1/datasets", json=dataset_body(), headers=h).json()["id"]
    z = client.get("/v1/checkpoints/tiny-ckpt/modules", headers=h).json()
    np.testing.assert_array_equal(decode_array(z["shape"], z["data"], max_values=100),
                                  tiny_backend.checkpoint_modules("tiny-ckpt"))
    _error(client.get("/v1/checkpoints/nope/modules", headers=h), 404, "not_found", "tiny-ckpt")
    body = evaluate_body(did, np.ones((2, 2, 6)), layers=(0, 1), d=6,
                         projection={"kind": "learned", "checkpoint": "tiny-ckpt"})
    body["param"]["head"] = "tiny-ckpt"
    assert client.post("/v1/evaluate", json=body, headers=h).status_code == 200
    model = client.get("/v1/model").json()
    assert model["default_checkpoint"] == "tiny-ckpt" and model["checkpoints"]["tiny-ckpt"]["layers"] == [0, 1]
    assert len(model["checkpoints"]["tiny-ckpt"]["sha256"]) == 64


def test_model_schema_mirrors_model_info():
    """A field added to ModelInfo must be added to the response schema (else GET /v1/model could not answer)."""
    from dataclasses import fields

    from bbt_mp2.backend import ModelInfo
    from servers.schemas import ModelPublic

    assert set(ModelPublic.model_fields) == {f.name for f in fields(ModelInfo)}


def test_a_request_is_checked_once_by_the_service_and_trusted_below(client, monkeypatch):  # noqa: ANN001
    """Validate once (issue 9): registration hashes and checks the dataset once; an evaluate request is checked by
    the service (wire decoding included) and nothing below it checks the population or re-hashes the dataset."""
    import servers.service
    from bbt_mp2.local_backend import LocalBackend
    from tests.bbt_mp2.test_validate_once import count_calls

    counts = count_calls(monkeypatch)
    decode = servers.service.decode_array

    def counted_decode(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        counts["decode_array"] += 1
        return decode(*args, **kwargs)

    monkeypatch.setattr(servers.service, "decode_array", counted_decode)
    backend_validate = LocalBackend._validate

    def counted_validate(self, *args):  # noqa: ANN001, ANN002, ANN202
        counts["backend_validate"] += 1
        return backend_validate(self, *args)

    monkeypatch.setattr(LocalBackend, "_validate", counted_validate)
    h = make_key(client)
    did = client.post("/v1/datasets", json=dataset_body(), headers=h).json()["id"]
    assert counts == {"fingerprint": 1, "check_dataset": 1}
    pop = np.random.default_rng(4).normal(size=(3, 1, 8))
    for request in (1, 2):
        assert client.post("/v1/evaluate", json=evaluate_body(did, pop), headers=h).status_code == 200
        assert counts == {"fingerprint": 1, "check_dataset": 1, "decode_array": request, "check_labels": 1}
    _error(client.post("/v1/evaluate", json=evaluate_body(did, np.full((1, 1, 8), np.nan)), headers=h), 422,
           "shape_error", "NaN or inf")
