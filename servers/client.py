"""``RemoteBackend``: the :class:`bbt_mp2.backend.Backend` protocol over HTTP (httpx), with retries.

Every method of ``bbt_mp2.methods`` runs against it unchanged::

    backend = RemoteBackend("http://127.0.0.1:8000", api_key=os.environ["BBT_MP2_API_KEY"])
    tune("sst2", "bbt", seed=13, budget=400, backend=backend)

Connection errors, timeouts and 503 are retried with exponential backoff (honouring Retry-After). Each evaluate and
predict carries a request id that its retries reuse, so a retry after a lost response is charged once. With
``journal=PATH`` the id of the last request is also kept on disk: a process that died waiting for an answer and
re-sends the same request after a restart (``tune --resume``) reuses its id, and the server answers from its record
instead of charging again. Within one process an identical request sent after its answer arrived is a new call.
A 4xx raises the library error of the server's ``{"error": {"code", "message"}}``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from bbt_mp2.backend import EvalResult, ModelInfo, Prediction, PromptParam
from bbt_mp2.errors import BackendError, BudgetExceededError, CheckpointError, ConfigError, ShapeError, UnknownNameError
from bbt_mp2.tasks.types import Example, TaskSpec
from servers.wire import decode_array, encode_array, example_to_dict, task_to_dict

__all__ = ["RemoteBackend", "RemoteError"]

logger = logging.getLogger(__name__)

_RETRY_STATUS = {502, 503, 504}


class RemoteError(BackendError):
    """The server refused a request; ``status`` and ``code`` are the server's."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"server answered {status} {code}: {message}")
        self.status, self.code = status, code


def _raise_for(status: int, code: str, message: str) -> None:
    text = f"server answered {status} {code}: {message}"
    if status == 429 and code == "budget_exceeded":
        raise BudgetExceededError(text)
    if status == 404:
        raise UnknownNameError(text)
    if status == 409:
        raise CheckpointError(text)
    if status == 422 and code == "shape_error":
        raise ShapeError(text)
    if status in (413, 422):
        raise ConfigError(text)
    raise RemoteError(status, code, message)


class RemoteBackend:
    """A :class:`~bbt_mp2.backend.Backend` served by ``bbt-mp2 serve`` at ``url``.

    Args:
        url: server base URL, e.g. ``http://127.0.0.1:8000``.
        api_key: the key from ``bbt-mp2 serve keys add`` (default: ``$BBT_MP2_API_KEY``).
        timeout: seconds per HTTP attempt.
        retries: attempts after the first on connection errors, timeouts, 429 rate limits and 503.
        backoff: first backoff in seconds (doubles per attempt, with jitter, capped at 30 s).
        journal: file keeping the last request's id (see module docstring); None = in memory only.

    Attributes:
        n_calls: calls charged to this client's evaluate and predict requests (replays count 0).
    """

    def __init__(self, url: str, api_key: str | None = None, *, timeout: float = 300.0, retries: int = 8,
                 backoff: float = 0.5, journal: str | os.PathLike[str] | None = None) -> None:
        key = api_key or os.environ.get("BBT_MP2_API_KEY")
        if not key:
            raise ConfigError("RemoteBackend needs an API key: api_key=..., --api-key or $BBT_MP2_API_KEY (make one "
                              "with `bbt-mp2 serve keys add --tenant NAME --budget N`)")
        if retries < 0 or backoff <= 0:
            raise ConfigError(f"retries must be >= 0 and backoff > 0, got retries={retries}, backoff={backoff}")
        self.url = url.rstrip("/")
        self.retries, self.backoff = int(retries), float(backoff)
        self.journal = None if journal is None else Path(journal)
        self.n_calls = 0
        self._client = httpx.Client(base_url=self.url, timeout=timeout,
                                    headers={"Authorization": f"Bearer {key}"})
        self._info: ModelInfo | None = None
        # (digest, request id, reusable): the last request; reusable until its answer arrives in this process
        self._last: tuple[str, str, bool] | None = self._read_journal()

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> RemoteBackend:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ------------------------------------------------------------------ HTTP
    def _request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        attempt = 0
        while True:
            try:
                resp = self._client.request(method, path, json=body)
            except (httpx.TransportError, httpx.TimeoutException) as exc:
                if attempt >= self.retries:
                    raise BackendError(f"cannot reach {self.url}{path} after {attempt + 1} attempts: {exc}") from exc
                self._sleep(attempt, None, f"{type(exc).__name__}")
                attempt += 1
                continue
            if resp.status_code < 400:
                return resp.json() if resp.content else None
            try:
                err = resp.json()["error"]
                code, message = str(err["code"]), str(err["message"])
            except (ValueError, KeyError, TypeError):
                code, message = "http_error", resp.text[:500]
            retryable = resp.status_code in _RETRY_STATUS or (resp.status_code == 429 and code == "rate_limited")
            if retryable and attempt < self.retries:
                self._sleep(attempt, resp.headers.get("retry-after"), f"{resp.status_code} {code}")
                attempt += 1
                continue
            _raise_for(resp.status_code, code, message)

    def _sleep(self, attempt: int, retry_after: str | None, why: str) -> None:
        delay = min(30.0, self.backoff * 2**attempt) * (0.5 + random.random() / 2)  # noqa: S311 - jitter only
        if retry_after is not None:
            try:
                delay = max(delay, float(retry_after))
            except ValueError:
                pass
        logger.info("retrying in %.2fs (%s)", delay, why)
        time.sleep(delay)

    # ------------------------------------------------------------------ request ids
    def _read_journal(self) -> tuple[str, str, bool] | None:
        if self.journal is None or not self.journal.is_file():
            return None
        try:
            data = json.loads(self.journal.read_text())
            return str(data["digest"]), str(data["request_id"]), True
        except (ValueError, KeyError, TypeError):
            return None

    def _request_id(self, body: dict[str, Any]) -> str:
        """The id of ``body``: the last request's id when the same content is sent again before its answer arrived
        in this process (or after a restart, from the journal), else a new one."""
        digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
        if self._last is not None and self._last[0] == digest and self._last[2]:
            return self._last[1]
        rid = uuid.uuid4().hex
        self._last = (digest, rid, True)
        if self.journal is not None:
            self.journal.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.journal.with_name(self.journal.name + ".tmp")
            tmp.write_text(json.dumps({"digest": digest, "request_id": rid}))
            os.replace(tmp, self.journal)
        return rid

    def _send(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST a charged request under its request id; the id is spent once the answer arrives."""
        body["request_id"] = self._request_id(body)
        out = self._request("POST", path, body)
        if self._last is not None:
            self._last = (self._last[0], self._last[1], False)
        self.n_calls += int(out["calls"])
        return out

    # ------------------------------------------------------------------ Backend protocol
    def info(self) -> ModelInfo:
        """The served backbone and checkpoints (``GET /v1/model``, cached)."""
        if self._info is None:
            self._info = ModelInfo.from_dict(self._request("GET", "/v1/model"))
        return self._info

    def checkpoint_modules(self, checkpoint_id: str) -> np.ndarray:
        """``L' x K x d`` float32 module vectors of a served checkpoint (``GET /v1/checkpoints/{id}/modules``)."""
        data = self._request("GET", f"/v1/checkpoints/{checkpoint_id}/modules")
        return decode_array(data["shape"], data["data"], max_values=1 << 28)

    def register(self, task: TaskSpec, examples: Sequence[Example], *, n_tokens: int,
                 max_length: int | None = None, head: str = "mrc") -> str:
        """Send the examples and task spec; the server formats and tokenises; returns the content id.

        ``max_length`` None = the server's default for the task type (capped by the backbone's positions);
        ``head="mlm"``: the cloze format, scored by the served backbone's MLM head."""
        body = {"task_spec": task_to_dict(task), "examples": [example_to_dict(e) for e in examples],
                "n_tokens": int(n_tokens), "max_length": None if max_length is None else int(max_length),
                "head": head}
        return str(self._request("POST", "/v1/datasets", body)["id"])

    def register_task(self, task: str, *, split: str, seed: int, n_tokens: int,
                      max_length: int | None = None) -> str:
        """Register a built-in task split of the few-shot protocol, read on the server."""
        body = {"task": task, "split": split, "seed": int(seed), "n_tokens": int(n_tokens),
                "max_length": None if max_length is None else int(max_length)}
        return str(self._request("POST", "/v1/datasets", body)["id"])

    def evaluate(self, dataset_id: str, param: PromptParam, population: np.ndarray, *, loss: str = "auto"
                 ) -> EvalResult:
        """Score ``P`` candidates (``P x L' x d``); ``P`` calls. The server checks the population (once)."""
        body = {"dataset_id": dataset_id, "param": param.to_dict(), "population": encode_array(population),
                "loss": loss}
        out = self._send("/v1/evaluate", body)
        return EvalResult(loss=np.asarray(out["loss"], dtype=np.float64),
                          metric=np.asarray(out["metric"], dtype=np.float64))

    def predict(self, dataset_id: str, param: PromptParam, candidate: np.ndarray, *, loss: str = "auto"
                ) -> Prediction:
        """Predictions of one candidate (``L' x d``); 1 call."""
        body = {"dataset_id": dataset_id, "param": param.to_dict(), "candidate": encode_array(candidate),
                "loss": loss}
        out = self._send("/v1/predict", body)
        scores = decode_array(out["scores"]["shape"], out["scores"]["data"], max_values=1 << 28) \
            if min(out["scores"]["shape"] or [0]) > 0 else np.zeros(out["scores"]["shape"], dtype=np.float32)
        scores = scores.astype(np.float64)
        scores[scores <= np.finfo(np.float32).min] = -np.inf  # padded options
        nan = float("nan")
        return Prediction(metric=nan if out["metric"] is None else float(out["metric"]),
                          loss=nan if out["loss"] is None else float(out["loss"]),
                          predicted=np.asarray(out["predicted"], dtype=np.int64),
                          labels=np.asarray(out["labels"], dtype=np.int64), scores=scores, texts=list(out["texts"]))

    def usage(self) -> dict[str, Any]:
        """This key's budget, used and remaining calls (``GET /v1/usage``)."""
        return dict(self._request("GET", "/v1/usage"))

