"""Fixtures of the server tests: the app in-process over a tiny random backbone and a tiny served checkpoint."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from fastapi.testclient import TestClient

from bbt_mp2.checkpoint import CheckpointConfig, MP2Checkpoint, save_checkpoint
from bbt_mp2.heads import MRCHead
from bbt_mp2.local_backend import LocalBackend
from bbt_mp2.testing import build_tiny_backbone
from servers.app import create_app
from servers.settings import ServerSettings

N_TOK = 4


@pytest.fixture(scope="session")
def tiny():  # noqa: ANN201
    return build_tiny_backbone(n_layers=3, hidden=32, seed=0)


def write_tiny_checkpoint(tiny, path: Path, *, seed: int = 3, layers=(0, 1)) -> Path:  # noqa: ANN001
    cfg = CheckpointConfig(backbone="tiny-bert", embedding_hash=tiny.embedding_hash(), n_tokens=N_TOK, n_modules=2,
                           d=6, hidden=32, layers=tuple(layers), task_names=("t",))
    g = torch.Generator().manual_seed(seed)
    L = len(layers)
    ckpt = MP2Checkpoint(cfg, torch.randn(1, L, 2, generator=g), torch.randn(L, 2, 6, generator=g),
                         0.1 * torch.randn(L, 6, N_TOK * 32, generator=g), torch.randn(2, 32, generator=g),
                         torch.zeros(2))
    return save_checkpoint(ckpt, path)


@pytest.fixture()
def tiny_backend(tiny, tmp_path: Path) -> LocalBackend:  # noqa: ANN001
    backend = LocalBackend(tiny, MRCHead(32, seed=2), token_budget=4096)
    backend.add_checkpoint(write_tiny_checkpoint(tiny, tmp_path / "ckpt"), checkpoint_id="tiny-ckpt", default=True)
    return backend


@pytest.fixture()
def settings(tmp_path: Path) -> ServerSettings:
    return ServerSettings(state_dir=tmp_path / "state", max_population=64, max_body_bytes=200_000, max_examples=64,
                          default_rate=1000.0, batch_wait_ms=1.0)


@pytest.fixture()
def client(settings: ServerSettings, tiny_backend: LocalBackend):  # noqa: ANN201
    with TestClient(create_app(settings, backend=tiny_backend), raise_server_exceptions=False) as c:
        yield c


def make_key(client: TestClient, tenant: str = "alice", budget: int = 1000, rate: float = 1000.0) -> dict:
    """Headers with a new key of ``tenant``."""
    key, _ = client.app.state.service.storage.create_key(tenant, budget, rate)
    return {"Authorization": f"Bearer {key}"}
