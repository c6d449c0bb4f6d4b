"""The app factory: ``create_app(settings, backend=None)`` (FastAPI, OpenAPI at ``/docs``, API under ``/v1``).

The lifespan loads the model once (unless a backend is given, as tests do), opens the storage layer and starts the
batcher; ``app.state.service`` holds them. Bodies over ``max_body_bytes`` are refused with 413 before parsing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, Response

from bbt_mp2.local_backend import LocalBackend
from servers.deps import RateLimiter
from servers.errors import error_response, install_error_handlers
from servers.routes import attach_routers
from servers.service import ModelService
from servers.settings import ServerSettings
from servers.storage import Storage

__all__ = ["create_app", "build_backend"]

logger = logging.getLogger(__name__)


def build_backend(settings: ServerSettings) -> LocalBackend:
    """Load the backbone and serve ``settings.checkpoints`` (the first one is the default head)."""
    from bbt_mp2.backbones import load_backbone
    from bbt_mp2.heads import MRCHead

    backbone = load_backbone(settings.backbone, device=settings.device)
    backend = LocalBackend(backbone, MRCHead(backbone.hidden, seed=0), device=settings.device,
                           dtype=settings.dtype)
    for i, (cid, where) in enumerate(settings.checkpoints.items()):
        backend.add_checkpoint(where, checkpoint_id=cid, default=i == 0)
    if not settings.checkpoints:
        logger.warning("no checkpoint served: the default MRC head is untrained (serve one with --checkpoint)")
    return backend


class _BodyLimit:
    """ASGI middleware: 413 for a body over ``limit`` bytes (declared or streamed), before the app reads it."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length", b"").decode("latin-1")
        if declared.isdigit() and int(declared) > self.limit:
            await self._refuse(scope, receive, send)
            return
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            more = message.get("more_body", False)
            if size > self.limit:
                await self._refuse(scope, receive, send)
                return
        body, sent = b"".join(chunks), False

        async def replay() -> dict:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: dict, receive: Any, send: Any) -> None:
        response = error_response(413, "too_large", f"request body over {self.limit} bytes; send a smaller "
                                  "population or fewer examples")
        await response(scope, receive, send)


def create_app(settings: ServerSettings, backend: LocalBackend | None = None) -> FastAPI:
    """The service app. ``backend=None`` loads ``settings.backbone`` and checkpoints in the lifespan."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings.state_dir.mkdir(parents=True, exist_ok=True)
        model = backend if backend is not None else build_backend(settings)
        storage = Storage(settings.database())
        service = ModelService(settings, model, storage)
        service.batcher.start()
        app.state.service = service
        logger.info("serving %s (%d checkpoints) with state in %s", service.info.name, len(service.info.checkpoints),
                    settings.state_dir)
        try:
            yield
        finally:
            await service.batcher.stop()
            service.executor.shutdown(wait=True)
            storage.close()

    app = FastAPI(title="bbt-mp2", version="1", lifespan=lifespan,
                  description="Loss-only black-box tuning service: a frozen language model scores prompts.")
    app.state.rate_limiter = RateLimiter()
    install_error_handlers(app)
    attach_routers(app)

    @app.middleware("http")
    async def _measure(request: Request, call_next: Any) -> Response:
        t0 = time.perf_counter()
        response = await call_next(request)
        route = getattr(request.scope.get("route"), "path", "unmatched")
        if request.url.path.startswith("/v1/") and not route.startswith("/v1"):
            route = "/v1" + route  # the route's own path lacks the router prefix
        service = getattr(request.app.state, "service", None)
        if service is not None:
            service.metrics.requests.labels(route, str(response.status_code)).inc()
            service.metrics.latency.labels(route).observe(time.perf_counter() - t0)
        return response

    @app.get("/metrics", include_in_schema=False)
    async def metrics(request: Request) -> Response:
        service = request.app.state.service
        service.metrics.queue_depth.set(service.batcher.depth)
        return Response(service.metrics.render(), media_type="text/plain; version=0.0.4")

    app.add_middleware(_BodyLimit, limit=settings.max_body_bytes)
    return app
