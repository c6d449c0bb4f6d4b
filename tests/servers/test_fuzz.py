"""Schema-driven fuzzing (schemathesis over ``/openapi.json``, in-process, bounded): no input gets a 500."""

from __future__ import annotations

import numpy as np
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from bbt_mp2.heads import MRCHead
from bbt_mp2.local_backend import LocalBackend
from servers.app import create_app
from servers.settings import ServerSettings
from servers.storage import Storage
from tests.servers.conftest import write_tiny_checkpoint
from tests.servers.helpers import dataset_body, evaluate_body

MAX_EXAMPLES = 50


@pytest.fixture(scope="module")
def fuzz_target(tiny, tmp_path_factory):  # noqa: ANN001, ANN201
    root = tmp_path_factory.mktemp("fuzz")
    cfg = ServerSettings(state_dir=root / "state", max_population=32, max_body_bytes=100_000, max_examples=32,
                         default_rate=10_000.0)
    cfg.state_dir.mkdir(parents=True)
    storage = Storage(cfg.database())
    key, _ = storage.create_key("fuzzer", 10**9, 10_000.0)
    storage.close()
    backend = LocalBackend(tiny, MRCHead(32, seed=2), token_budget=4096)
    backend.add_checkpoint(write_tiny_checkpoint(tiny, root / "ckpt"), checkpoint_id="tiny-ckpt", default=True)
    app = create_app(cfg, backend=backend)
    headers = {"Authorization": f"Bearer {key}"}
    return schemathesis.openapi.from_asgi("/openapi.json", app), headers, app


def _operations(schema):  # noqa: ANN001, ANN202
    return [result.ok() for result in schema.get_all_operations()]


def test_every_endpoint_is_in_the_schema(fuzz_target):  # noqa: ANN001
    schema, _, _ = fuzz_target
    paths = {(op.method.upper(), op.path) for op in _operations(schema)}
    assert {("POST", "/v1/evaluate"), ("POST", "/v1/predict"), ("POST", "/v1/datasets"), ("GET", "/v1/datasets"),
            ("GET", "/v1/datasets/{dataset_id}"), ("DELETE", "/v1/datasets/{dataset_id}"), ("GET", "/v1/model"),
            ("GET", "/v1/usage"), ("GET", "/v1/health"),
            ("GET", "/v1/checkpoints/{checkpoint_id}/modules")} <= paths


def test_fuzzed_requests_never_get_a_500(fuzz_target):  # noqa: ANN001
    schema, headers, _ = fuzz_target
    seen: dict[str, set[int]] = {}
    for op in _operations(schema):

        @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(case=op.as_strategy())
        def check(case):  # noqa: ANN001, ANN202
            for auth in (headers, {}):
                response = case.call(headers=auth)
                seen.setdefault(f"{case.method.upper()} {case.operation.path}", set()).add(response.status_code)
                assert response.status_code < 500, (case.method, case.path, response.text[:500])
                if response.status_code >= 400:
                    assert set(response.json()) == {"error"}, response.text[:300]

        check()
    assert len(seen) >= 10
    assert any(code < 300 for codes in seen.values() for code in codes)  # not everything was refused


def test_fuzzed_populations_on_a_real_dataset(fuzz_target):  # noqa: ANN001
    """Mutated valid evaluate bodies (shapes, bytes, params) on a registered dataset: 200 or a 4xx, never 500."""
    _, headers, app = fuzz_target
    with TestClient(app, raise_server_exceptions=False) as c:
        did = c.post("/v1/datasets", json=dataset_body(), headers=headers).json()["id"]

        @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        @given(p=st.integers(1, 3), lp=st.integers(1, 3), d=st.integers(1, 10), rows=st.integers(0, 40),
               value=st.floats(allow_nan=True, allow_infinity=True, width=32),
               layers=st.lists(st.integers(-1, 5), min_size=1, max_size=3),
               kind=st.sampled_from(["normal", "uniform", "learned"]), n_tokens=st.integers(1, 6))
        def check(p, lp, d, rows, value, layers, kind, n_tokens):  # noqa: ANN001, ANN202
            pop = np.full((p, lp, d), value, dtype=np.float32)
            body = evaluate_body(did, pop, layers=layers, d=d,
                                 projection={"kind": kind, "seed": 0, "checkpoint": "tiny-ckpt"})
            body["param"]["n_tokens"] = n_tokens
            body["population"]["shape"][0] = rows or p
            r = c.post("/v1/evaluate", json=body, headers=headers)
            assert r.status_code < 500, r.text[:500]

        check()
