"""The model-as-a-service endpoint (FastAPI over the evaluator) and its client.

``from servers.client import RemoteBackend`` needs only httpx; ``servers.app.create_app`` needs the ``server`` extra.
"""

from __future__ import annotations

from typing import Any

__all__ = ["create_app", "ServerSettings", "RemoteBackend"]


def __getattr__(name: str) -> Any:  # lazy: the client must not import FastAPI, SQLAlchemy or torch
    if name == "create_app":
        from servers.app import create_app

        return create_app
    if name == "ServerSettings":
        from servers.settings import ServerSettings

        return ServerSettings
    if name == "RemoteBackend":
        from servers.client import RemoteBackend

        return RemoteBackend
    raise AttributeError(f"module 'servers' has no attribute {name!r}")
