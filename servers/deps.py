"""Dependencies of the routes: the service, and the tenant's key from the Bearer header (rate-limited)."""

from __future__ import annotations

import threading
import time
from typing import Annotated

from fastapi import Depends, Request

from servers.errors import ServiceError
from servers.service import ModelService
from servers.storage import KeyRecord

__all__ = ["ServiceDep", "KeyDep", "RateLimiter"]


class RateLimiter:
    """A token bucket per key: ``rate`` requests per second, bursts up to ``max(1, rate)``."""

    def __init__(self) -> None:
        self._buckets: dict[int, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def acquire(self, key_id: int, rate: float) -> float:
        """0 when the request may proceed, else the seconds until it may (nothing taken)."""
        burst = max(1.0, rate)
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key_id, (burst, now))
            tokens = min(burst, tokens + (now - last) * rate)
            if tokens < 1.0:
                self._buckets[key_id] = (tokens, now)
                return (1.0 - tokens) / rate
            self._buckets[key_id] = (tokens - 1.0, now)
            return 0.0


def get_service(request: Request) -> ModelService:
    return request.app.state.service


ServiceDep = Annotated[ModelService, Depends(get_service)]


async def get_key(request: Request, service: ServiceDep) -> KeyRecord:
    """The key of the ``Authorization: Bearer <key>`` header; 401 without a valid one, 429 over its rate."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ServiceError(401, "unauthorized", "send an API key as 'Authorization: Bearer <key>' (make one with "
                           "`bbt-mp2 serve keys add`)")
    record = await service.io(service.storage.authenticate, token.strip())
    if record is None:
        raise ServiceError(401, "unauthorized", "unknown or revoked API key")
    wait = request.app.state.rate_limiter.acquire(record.id, record.rate)
    if wait > 0:
        raise ServiceError(429, "rate_limited", f"more than {record.rate:g} requests/s for this key; retry later",
                           wait)
    return record


KeyDep = Annotated[KeyRecord, Depends(get_key)]
