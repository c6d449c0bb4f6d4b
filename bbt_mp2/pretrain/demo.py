"""A small pre-trained checkpoint for the demo and for real-model tests, made on first use and cached.

``ensure_demo_checkpoint()`` pre-trains a deep MP2 checkpoint on MiniLM over a few topic/sentiment tasks (a few
hundred steps, short prompt, short inputs) and caches it under ``$BBT_MP2_CACHE`` or ``~/.cache/bbt-mp2``. Later
calls return the cached path at once. Concurrent callers are serialised by a lock file; the checkpoint appears by
an atomic rename, so nobody sees a half-written one.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import time
from pathlib import Path

from bbt_mp2.checkpoint import CONFIG_FILE, TENSORS_FILE
from bbt_mp2.pretrain.config import PretrainConfig

__all__ = ["ensure_demo_checkpoint", "demo_config", "cache_root", "DEMO_NAME"]

logger = logging.getLogger(__name__)

DEMO_NAME = "demo-minilm-v2"  # bump when demo_config() changes, so stale caches are not reused


def demo_config() -> PretrainConfig:
    """The demo recipe: MiniLM, ag_news + trec + mr, deep, n 10, T 64, 160 steps of 32, the English recipe's lrs."""
    return PretrainConfig(seed=0, tasks=("ag_news", "trec", "mr"), deep=True, steps=160, batch_size=32, n_tokens=10,
                          max_length=64, lr_router=5e-3, lr_prompt=1e-3, eval_every=80, save_every=40, dev_size=200,
                          train_size=2000, backbone="minilm")


def cache_root(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """``cache_dir``, else ``$BBT_MP2_CACHE``, else ``~/.cache/bbt-mp2``."""
    if cache_dir is not None:
        return Path(cache_dir)
    env = os.environ.get("BBT_MP2_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "bbt-mp2"


def _is_checkpoint(path: Path) -> bool:
    return (path / CONFIG_FILE).is_file() and (path / TENSORS_FILE).is_file()


def ensure_demo_checkpoint(cache_dir: str | os.PathLike[str] | None = None, *, progress: bool = False) -> Path:
    """Path of the cached demo checkpoint, pre-training it first if it is not cached yet.

    Args:
        cache_dir: cache folder (default: :func:`cache_root`).
        progress: show the pre-training progress bar.

    Returns:
        The checkpoint directory (``<cache>/demo-minilm-v1``), loadable with ``bbt_mp2.checkpoint.load_checkpoint``.
    """
    root = cache_root(cache_dir)
    final = root / DEMO_NAME
    if _is_checkpoint(final):
        return final
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f"{DEMO_NAME}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be making it: wait, then re-check
        if _is_checkpoint(final):
            return final
        from bbt_mp2.pretrain.trainer import pretrain

        work = root / f"{DEMO_NAME}.run"  # resumable: a killed first call continues where it stopped
        t0 = time.perf_counter()
        logger.warning("pre-training the demo checkpoint on MiniLM (first use only, a few minutes) in %s", work)
        best = pretrain(demo_config(), work, resume=True, progress=progress)
        tmp = root / f"{DEMO_NAME}.tmp"
        if tmp.exists():
            shutil.rmtree(tmp)
        shutil.copytree(best, tmp)
        os.replace(tmp, final)
        shutil.copy2(work / "history.jsonl", final / "pretrain_history.jsonl")
        shutil.rmtree(work, ignore_errors=True)
        logger.warning("demo checkpoint ready in %.0f s: %s", time.perf_counter() - t0, final)
    return final
