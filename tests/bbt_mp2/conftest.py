"""Fixtures shared by the LocalBackend tests: SST-2 few-shot data, the tiny random backbone and a backend on it."""

from __future__ import annotations

import pytest

from bbt_mp2.heads import MRCHead
from bbt_mp2.local_backend import LocalBackend
from bbt_mp2.tasks import fewshot, get_task
from bbt_mp2.testing import build_tiny_backbone


@pytest.fixture(scope="module")
def sst2():  # noqa: ANN201
    return get_task("sst2"), fewshot("sst2", 13)


@pytest.fixture(scope="module")
def tiny():  # noqa: ANN201
    return build_tiny_backbone(n_layers=3, hidden=32, seed=0)


@pytest.fixture()
def backend(tiny) -> LocalBackend:  # noqa: ANN001
    return LocalBackend(tiny, MRCHead(32, seed=2), token_budget=512)
