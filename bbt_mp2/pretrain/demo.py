"""A small pre-trained checkpoint for the demo, made on first use and cached.

``ensure_demo_checkpoint()`` pre-trains a shallow MP2 checkpoint on MiniLM over two sentiment tasks (mr, cr; a few
hundred short steps, short prompt, short inputs, prompt dropout 0.5) and caches it under ``$BBT_MP2_CACHE`` or
``~/.cache/bbt-mp2``. Later calls return the cached path at once. Concurrent callers are serialised by a lock file;
the checkpoint appears by an atomic rename, so nobody sees a half-written one.

What the demo needs from it is the MRC head, used by BBT from a zero prompt: half of the steps train the head on
the unprompted backbone (prompt dropout), so the head is above chance unprompted (on SST-2, which it never saw,
0.570 test accuracy, AUC 0.625, 86% "positive") and BBT has something to improve. Routed-prompt-only training
(the reference code) leaves the head at chance without its own prompts, and BBT could not move it in 300 calls.
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

DEMO_NAME = "demo-minilm-v3"  # bump when demo_config() changes, so stale caches are not reused


def demo_config() -> PretrainConfig:
    """The demo recipe: MiniLM, mr + cr, shallow (layer 0, as BBT), n 10, T 48, 400 steps of 16, prompt dropout 0.5.

    The prompt / head learning rate is 3e-2 (30x the English recipe's): the head must learn from ~200 unprompted
    steps, and at 1e-3 it stays at chance (measured). 2-4 minutes on a 2-core CPU (120 s measured idle, 184-237 s
    on a busy machine).
    """
    return PretrainConfig(seed=0, tasks=("mr", "cr"), deep=False, steps=400, batch_size=16, n_tokens=10,
                          max_length=48, lr_router=1e-2, lr_prompt=3e-2, eval_every=200, save_every=50, dev_size=200,
                          train_size=2000, backbone="minilm", prompt_dropout=0.5)


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
        The checkpoint directory (``<cache>/<DEMO_NAME>``), loadable with ``bbt_mp2.checkpoint.load_checkpoint``.
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
