"""The ``/v1`` routers, one module per resource; :func:`attach_routers` mounts them."""

from __future__ import annotations

from fastapi import FastAPI

from servers.routes import datasets, evaluate, model

__all__ = ["attach_routers"]


def attach_routers(app: FastAPI) -> None:
    for module in (model, datasets, evaluate):
        app.include_router(module.router, prefix="/v1")
