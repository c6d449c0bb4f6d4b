"""Shared fixtures of the pre-training tests: a tiny backbone and two small real upstream tasks encoded for it."""

from __future__ import annotations

import pytest

from bbt_mp2.pretrain import PretrainConfig, load_task_data

TINY_TASKS = ("ag_news", "mr")


def tiny_config(**overrides) -> PretrainConfig:
    """A fast config for the tiny backbone: 2 tasks, n 4, T 48, batch 8."""
    base = dict(seed=3, tasks=TINY_TASKS, deep=True, steps=12, batch_size=8, n_tokens=4, max_length=128, n_modules=3,
                d=8, lr_router=1e-2, lr_prompt=1e-2, eval_every=6, save_every=4, log_every=2, dev_size=16,
                train_size=48, eval_batch_size=16, backbone="tiny")
    base.update(overrides)
    return PretrainConfig(**base)


@pytest.fixture(scope="session")
def tiny_backbone():
    from bbt_mp2.testing import build_tiny_backbone

    return build_tiny_backbone("bert", n_layers=2, hidden=32, seed=0)


@pytest.fixture(scope="session")
def tiny_data(tiny_backbone):
    cfg = tiny_config()
    return load_task_data(cfg.tasks, tiny_backbone, n_tokens=cfg.n_tokens, max_length=cfg.max_length, seed=cfg.seed,
                          dev_size=cfg.dev_size, train_size=cfg.train_size)


@pytest.fixture(scope="session")
def make_config():
    """``make_config(**overrides) -> PretrainConfig`` (see :func:`tiny_config`)."""
    return tiny_config


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """One intra-op thread: on a shared 2-core machine, 2 spinning threads make tiny ops ~100x slower."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
