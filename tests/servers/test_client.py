"""RemoteBackend against a real uvicorn server (tiny backbone, in a thread): the Backend protocol, same numbers as
LocalBackend, errors named, retries, and the journal that keeps a re-sent request from being charged twice."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import uvicorn

from bbt_mp2.backend import Backend, ProjectionSpec, PromptParam
from bbt_mp2.errors import BackendError, BudgetExceededError, CheckpointError, ConfigError, ShapeError, UnknownNameError
from servers.app import create_app
from servers.client import RemoteBackend
from tests.servers.helpers import TASK, toy_examples
from tests.servers.process import free_port


@pytest.fixture()
def served(settings, tiny_backend):  # noqa: ANN001, ANN201
    port = free_port()
    app = create_app(settings, backend=tiny_backend)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    yield f"http://127.0.0.1:{port}", app, tiny_backend
    server.should_exit = True
    thread.join(10)


def _key(app, budget: int = 1000) -> str:  # noqa: ANN001
    return app.state.service.storage.create_key("alice", budget, 1000.0)[0]


PARAM = PromptParam(layers=(0,), d=8, n_tokens=4, projection=ProjectionSpec(kind="uniform", seed=1))


def test_remote_backend_implements_the_protocol_with_the_local_numbers(served):  # noqa: ANN001
    url, app, local = served
    with RemoteBackend(url, _key(app)) as remote:
        assert isinstance(remote, Backend)
        assert remote.info().to_dict() == local.info().to_dict()
        np.testing.assert_array_equal(remote.checkpoint_modules("tiny-ckpt"), local.checkpoint_modules("tiny-ckpt"))
        did = remote.register(TASK, toy_examples(), n_tokens=4, max_length=48)
        assert did == local.register(TASK, toy_examples(), n_tokens=4, max_length=48)
        pop = np.random.default_rng(0).normal(size=(6, 1, 8))
        got, want = remote.evaluate(did, PARAM, pop), local.evaluate(did, PARAM, pop)
        np.testing.assert_allclose(got.loss, want.loss, rtol=1e-6)
        np.testing.assert_allclose(got.metric, want.metric)
        p, q = remote.predict(did, PARAM, pop[0]), local.predict(did, PARAM, pop[0])
        assert p.predicted.tolist() == q.predicted.tolist() and p.metric == pytest.approx(q.metric)
        np.testing.assert_allclose(p.scores, q.scores, rtol=1e-5)
        assert remote.n_calls == remote.usage()["used"] == 7


def test_errors_are_named_library_errors(served):  # noqa: ANN001
    url, app, _ = served
    with RemoteBackend(url, _key(app, budget=3)) as remote:
        did = remote.register(TASK, toy_examples(), n_tokens=4, max_length=48)
        with pytest.raises(UnknownNameError, match="404 not_found: dataset 'ds-nope'"):
            remote.evaluate("ds-nope", PARAM, np.zeros((1, 1, 8)))
        with pytest.raises(ShapeError, match="422 shape_error"):
            remote.evaluate(did, PARAM, np.zeros((1, 1, 9)))
        learned = PromptParam(layers=(0,), d=8, n_tokens=4, projection=ProjectionSpec(kind="learned",
                                                                                       checkpoint="tiny-ckpt"))
        with pytest.raises(CheckpointError, match="409 checkpoint_conflict"):
            remote.evaluate(did, learned, np.zeros((1, 1, 8)))
        with pytest.raises(BudgetExceededError, match="429 budget_exceeded"):
            remote.evaluate(did, PARAM, np.zeros((4, 1, 8)))
    with pytest.raises(ConfigError, match="needs an API key"):
        RemoteBackend(url, "")
    with RemoteBackend(url, "bbt_wrong") as bad, pytest.raises(BackendError, match="401 unauthorized"):
        bad.usage()


def test_connection_errors_are_retried_then_reported():
    remote = RemoteBackend(f"http://127.0.0.1:{free_port()}", "k", retries=2, backoff=0.01)
    t0 = time.perf_counter()
    with pytest.raises(BackendError, match="after 3 attempts"):
        remote.info()
    assert time.perf_counter() - t0 < 5


def test_journal_reuses_the_request_id_of_a_resent_request(served, tmp_path):  # noqa: ANN001
    url, app, _ = served
    key = _key(app)
    pop = np.random.default_rng(1).normal(size=(3, 1, 8))
    first = RemoteBackend(url, key, journal=tmp_path / "journal.json")
    did = first.register(TASK, toy_examples(), n_tokens=4, max_length=48)
    first.evaluate(did, PARAM, pop)
    first.close()  # the process "dies" before recording the answer; after a restart the same request is re-sent
    again = RemoteBackend(url, key, journal=tmp_path / "journal.json")
    again.evaluate(did, PARAM, pop)
    assert again.n_calls == 0 and again.usage()["used"] == 3
    again.evaluate(did, PARAM, pop)  # the same request again after its answer arrived: a new call
    assert again.n_calls == 3 and again.usage()["used"] == 6
    again.evaluate(did, PARAM, pop[:2])  # new content, new id: charged
    assert again.usage()["used"] == 8
