"""The dynamic batcher: merges same-group requests, round-robin across tenants, bounded queue, off the loop."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from bbt_mp2.backend import EvalResult
from servers.batcher import DynamicBatcher
from servers.errors import ServiceError


def _batcher(calls: list, *, token_budget: int = 1000, max_queue: int = 100, gate: threading.Event | None = None):
    loop_thread = threading.get_ident()

    def run(group, pop):  # noqa: ANN001, ANN202
        assert threading.get_ident() != loop_thread  # model work never on the event loop
        if gate is not None:
            gate.wait(5)
        calls.append((group, pop[:, 0].tolist()))
        return EvalResult(loss=pop[:, 0] * 2, metric=pop[:, 0])

    return DynamicBatcher(run, ThreadPoolExecutor(1), token_budget=token_budget, max_queue=max_queue, wait_s=0.01)


def _pop(*values: float) -> np.ndarray:
    return np.array(values, dtype=np.float32)[:, None]


def test_concurrent_same_group_requests_share_one_call_and_get_their_rows():
    calls: list = []

    async def main():  # noqa: ANN202
        b = _batcher(calls)
        b.start()
        out = await asyncio.gather(b.submit("a", "g", _pop(1, 2), 2), b.submit("b", "g", _pop(3), 1),
                                   b.submit("a", "h", _pop(4), 1))
        await b.stop()
        return out

    out = asyncio.run(main())
    assert [r.loss.tolist() for r in out] == [[2, 4], [6], [8]]
    assert calls == [("g", [1, 2, 3]), ("h", [4])]


def test_round_robin_keeps_a_big_tenant_from_starving_a_small_one():
    calls: list = []
    gate = threading.Event()

    async def main():  # noqa: ANN202
        b = _batcher(calls, token_budget=1, gate=gate)  # budget 1 token: no merging
        b.start()
        blocker = asyncio.ensure_future(b.submit("big", "x", _pop(0), 1))
        await asyncio.sleep(0.05)  # the model thread is busy with the blocker
        big = [asyncio.ensure_future(b.submit("big", f"g{i}", _pop(i + 1), 1)) for i in range(4)]
        small = asyncio.ensure_future(b.submit("small", "s", _pop(99), 1))
        await asyncio.sleep(0.02)
        gate.set()
        await asyncio.gather(blocker, small, *big)
        await b.stop()

    asyncio.run(main())
    order = [g for g, _ in calls]
    assert order.index("s") <= 2, order  # served right after the big tenant's next request, not after all four


def test_full_queue_is_503_with_retry_after():
    calls: list = []
    gate = threading.Event()

    async def main():  # noqa: ANN202
        b = _batcher(calls, max_queue=2, token_budget=1, gate=gate)
        b.start()
        running = asyncio.ensure_future(b.submit("a", "x", _pop(0), 1))
        await asyncio.sleep(0.05)
        waiting = [asyncio.ensure_future(b.submit("a", "y", _pop(1), 1)) for _ in range(2)]
        await asyncio.sleep(0)
        with pytest.raises(ServiceError) as err:
            await b.submit("a", "z", _pop(2), 1)
        gate.set()
        await asyncio.gather(running, *waiting)
        await b.stop()
        return err.value

    err = asyncio.run(main())
    assert err.status == 503 and err.retry_after == 1.0 and "limit 2" in err.message


def test_metrics_endpoint_reports_requests_calls_and_batches(client):  # noqa: ANN001
    from tests.servers.conftest import make_key
    from tests.servers.helpers import dataset_body, evaluate_body

    h = make_key(client)
    did = client.post("/v1/datasets", json=dataset_body(), headers=h).json()["id"]
    client.post("/v1/evaluate", json=evaluate_body(did, np.zeros((3, 1, 8))), headers=h)
    text = client.get("/metrics").text
    assert 'bbt_calls_total{endpoint="evaluate"} 3.0' in text
    assert 'bbt_requests_total{route="/v1/evaluate",status="200"} 1.0' in text
    assert "bbt_batch_candidates_count 1.0" in text and "bbt_queue_depth 0.0" in text
    assert "bbt_request_seconds_bucket" in text
