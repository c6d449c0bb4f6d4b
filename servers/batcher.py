"""Dynamic batching of evaluate requests: merge, round-robin across tenants, bounded queue, model off the loop.

Requests with the same (dataset, parameterisation, loss) are concatenated along the population axis into one
evaluator call, up to a token budget (candidates x examples x length). The next batch starts from the next tenant
in rotation, and every round of merging takes at most one request per tenant, so a client sending many large
populations cannot starve a small one. The model runs on one worker thread (``executor``), never on the event loop;
a full queue refuses new work with :class:`~servers.errors.ServiceError` 503 + Retry-After.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Hashable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bbt_mp2.backend import EvalResult
from servers.errors import ServiceError

__all__ = ["DynamicBatcher"]

logger = logging.getLogger(__name__)


@dataclass
class _Job:
    tenant: str
    group: Hashable
    population: np.ndarray
    tokens: int
    future: asyncio.Future = field(repr=False)


class DynamicBatcher:
    """Merges concurrent evaluate requests into shared evaluator calls.

    Args:
        run: ``run(group, population) -> EvalResult`` scoring a merged ``P x ...`` population (runs on ``executor``).
        executor: the model thread.
        token_budget: most tokens merged into one call (a single larger request still runs alone).
        max_queue: most waiting requests; more are refused with 503.
        wait_s: after the first request arrives, how long to wait for others to merge with it.
        on_batch: called with (requests merged, candidates) after each call (metrics).
    """

    def __init__(self, run: Callable[[Any, np.ndarray], EvalResult], executor: Executor, *, token_budget: int,
                 max_queue: int, wait_s: float = 0.002,
                 on_batch: Callable[[int, int], None] | None = None) -> None:
        self.run, self.executor = run, executor
        self.token_budget, self.max_queue, self.wait_s = int(token_budget), int(max_queue), float(wait_s)
        self.on_batch = on_batch
        self._queues: dict[str, deque[_Job]] = {}
        self._order: deque[str] = deque()
        self._depth = 0
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task | None = None

    @property
    def depth(self) -> int:
        """Requests waiting (not yet running)."""
        return self._depth

    def start(self) -> None:
        self._wake = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._worker())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        for queue in self._queues.values():
            for job in queue:
                if not job.future.done():
                    job.future.set_exception(ServiceError(503, "shutting_down", "the server is shutting down", 1.0))

    async def submit(self, tenant: str, group: Hashable, population: np.ndarray, tokens: int) -> EvalResult:
        """Queue one request's population (``P x ...``) and wait for its scores (``P`` losses and metrics).

        Raises:
            ServiceError: 503 when the queue is full.
        """
        if self._wake is None:
            raise ServiceError(503, "not_ready", "the batcher is not running yet", 1.0)
        if self._depth >= self.max_queue:
            raise ServiceError(503, "queue_full", f"{self._depth} requests are waiting (limit {self.max_queue}); "
                               "retry after the Retry-After delay", 1.0)
        job = _Job(tenant, group, population, int(tokens), asyncio.get_running_loop().create_future())
        if tenant not in self._queues:
            self._queues[tenant] = deque()
            self._order.append(tenant)
        self._queues[tenant].append(job)
        self._depth += 1
        self._wake.set()
        return await job.future

    def _take(self) -> list[_Job]:
        """The next batch: the head request of the next tenant in rotation, plus same-group requests of every
        tenant (one per tenant per round) while the token budget allows."""
        while self._order and not self._queues[self._order[0]]:
            del self._queues[self._order.popleft()]
        if not self._order:
            return []
        first_tenant = self._order[0]
        first = self._queues[first_tenant].popleft()
        batch, tokens = [first], first.tokens
        added = True
        while added:
            added = False
            for tenant in list(self._order):
                queue = self._queues[tenant]
                if queue and queue[0].group == first.group and tokens + queue[0].tokens <= self.token_budget:
                    job = queue.popleft()
                    batch.append(job)
                    tokens += job.tokens
                    added = True
        self._order.rotate(-1)  # the next batch starts with the next tenant
        self._depth -= len(batch)
        return batch

    async def _worker(self) -> None:
        loop = asyncio.get_running_loop()
        assert self._wake is not None
        while True:
            await self._wake.wait()
            if self.wait_s > 0:
                await asyncio.sleep(self.wait_s)
            batch = self._take()
            if not batch:
                self._wake.clear()
                continue
            pop = np.concatenate([j.population for j in batch]) if len(batch) > 1 else batch[0].population
            try:
                result = await loop.run_in_executor(self.executor, self.run, batch[0].group, pop)
            except Exception as exc:  # noqa: BLE001 - every waiting request gets the error
                for job in batch:
                    if not job.future.done():
                        job.future.set_exception(exc)
                continue
            if self.on_batch is not None:
                self.on_batch(len(batch), len(pop))
            start = 0
            for job in batch:
                stop = start + len(job.population)
                if not job.future.done():
                    job.future.set_result(EvalResult(loss=np.asarray(result.loss)[start:stop],
                                                     metric=np.asarray(result.metric)[start:stop]))
                start = stop
