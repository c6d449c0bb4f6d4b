"""What runs one cell, in a worker process or a Ray task: :func:`run_cell` (plain dict in, plain dict out).

A finished cell (``result.json``) is skipped; an interrupted one resumes from its last generation
(``tune(..., resume=True)``; gradient cells restart, they have no resume point); a failure writes ``error.json``
(type, message, traceback) and returns ``status: failed`` instead of raising, so one cell never stops the others.
A cell that fails is retried by the next run of the sweep (``error.json`` is removed when it starts again).

Backends are built once per process and reused by the cells that share them: a ``LocalBackend`` over the cell's
backbone and checkpoint; ``servers.client.RemoteBackend`` when the sweep has a server URL (API key from
``$BBT_MP2_API_KEY``); or ``fixed.backend_factory: "module:function"`` (called with the cell dict, returns a
Backend; tests use it for a fake backend).
"""

from __future__ import annotations

import functools
import importlib
import json
import logging
import os
import time
import traceback
from pathlib import Path
from typing import Any

from bbt_mp2.atomic_io import atomic_write_bytes
from bbt_mp2.errors import ConfigError
from benchmarks.sweep.config import GRAD_PREFIX
from benchmarks.sweep.plan import Cell

__all__ = ["run_cell", "CELL_FILE", "ERROR_FILE", "RESULT_FILE", "cell_status", "set_worker_threads"]

logger = logging.getLogger(__name__)

CELL_FILE = "cell.json"
ERROR_FILE = "error.json"
RESULT_FILE = "result.json"  # = bbt_mp2.rundir.RunDir.RESULT


def _write_json(path: Path, data: dict[str, Any]) -> None:
    atomic_write_bytes(path, (json.dumps(data, indent=2, sort_keys=True, default=str) + "\n").encode())


def cell_status(out_dir: str | Path) -> str:
    """``done`` (result.json), ``failed`` (error.json), ``partial`` (a run started) or ``missing``."""
    from bbt_mp2.rundir import RunDir

    out = Path(out_dir)
    if (out / RESULT_FILE).is_file():
        return "done"
    if (out / ERROR_FILE).is_file():
        return "failed"
    return "partial" if RunDir(out).has_run() else "missing"


def set_worker_threads(threads: int) -> None:
    """Torch intra-op threads of this worker process (``threads`` >= 1)."""
    import torch

    torch.set_num_threads(max(1, int(threads)))


def _import_path(path: str) -> Any:
    module, _, name = path.partition(":")
    if not module or not name:
        raise ConfigError(f"backend_factory {path!r} must be 'package.module:function'")
    return getattr(importlib.import_module(module), name)


@functools.lru_cache(maxsize=2)
def _local_backend(backbone: str, checkpoint: str | None, device: str, dtype: str) -> Any:
    import torch

    from bbt_mp2.backbones import load_backbone
    from bbt_mp2.local_backend import LocalBackend

    if checkpoint is None:
        raise ConfigError(f"backbone {backbone!r}: a cell without a checkpoint has no MRC head; give the sweep a "
                          f"`checkpoints` axis (shipped name or directory)")
    bb = load_backbone(backbone, device=device, dtype=getattr(torch, dtype))
    return LocalBackend.from_checkpoint(bb, checkpoint)


@functools.lru_cache(maxsize=2)
def _remote_backend(url: str) -> Any:
    try:
        from servers.client import RemoteBackend
    except ImportError as exc:
        raise ConfigError(f"--server {url}: servers.client.RemoteBackend is not available ({exc}); install the "
                          f"server extra (pip install 'bbt-mp2[server]') or run the sweep in-process") from None
    return RemoteBackend(url, api_key=os.environ.get("BBT_MP2_API_KEY"))


def _backend(cell: Cell) -> Any:
    fixed = cell.fixed
    if fixed.get("backend_factory"):
        return _import_path(fixed["backend_factory"])(cell.to_dict())
    if fixed.get("server"):
        return _remote_backend(str(fixed["server"]))
    return _local_backend(cell.backbone, cell.checkpoint, str(fixed.get("device", "cpu")),
                          str(fixed.get("dtype", "float32")))


def _task(cell: Cell) -> Any:
    """The cell's TaskSpec, registering user tasks and label subsets in this process."""
    from bbt_mp2.tasks import get_task, load_user_task
    from bbt_mp2.tasks.subsets import subset_task

    source = cell.source_task
    name = load_user_task(source).name if source.endswith((".yaml", ".yml", ".json")) else source
    return subset_task(name, cell.labels, cell.seed) if cell.labels is not None else get_task(name)


def _split(cell: Cell, spec: Any) -> Any:
    """The few-shot split of the cell (k = ``shots``); with ``fixed.test_limit`` N, its test set cut to N examples
    chosen by ``np.random.default_rng(0)`` (kept in file order; the same subset for every method and seed)."""
    import dataclasses

    import numpy as np

    from bbt_mp2.tasks import fewshot

    split = fewshot(spec.name, cell.seed, data_root=cell.fixed.get("data_root"), k=cell.shots)
    limit = cell.fixed.get("test_limit")
    if limit and len(split.test) > int(limit):
        keep = np.sort(np.random.default_rng(0).permutation(len(split.test))[: int(limit)])
        split = dataclasses.replace(split, test=[split.test[i] for i in keep])
    return split


def _run_blackbox(cell: Cell, spec: Any) -> dict[str, Any]:
    from bbt_mp2.methods import RunDir, tune

    data = _split(cell, spec)
    overrides = dict(cell.overrides)
    if cell.optimizer is not None:
        overrides["optimizer"] = cell.optimizer
    resume = RunDir(cell.out_dir).has_run()
    if resume:
        logger.info("cell %s: resuming", cell.id)
    result = tune(spec, cell.method, cell.seed, cell.budget, backend=_backend(cell), checkpoint=cell.checkpoint,
                  out_dir=cell.out_dir, preset=cell.preset, overrides=overrides, data=data,
                  max_length=int(cell.fixed.get("max_length", 128)), resume=resume)
    return result.to_dict()


def _run_gradient(cell: Cell, spec: Any) -> dict[str, Any]:
    from bbt_mp2.pretrain import DownstreamConfig, run_gradient_downstream

    if cell.fixed.get("server") or cell.fixed.get("backend_factory"):
        raise ConfigError(f"{cell.method} is a gradient baseline: it needs the model in-process, not a server "
                          "or a custom backend")
    values = {"max_length": int(cell.fixed.get("max_length", 128)), "k": cell.shots,
              "data_root": cell.fixed.get("data_root"), **cell.overrides}
    split = _split(cell, spec)
    config = DownstreamConfig(method=cell.method[len(GRAD_PREFIX):], task=spec.name, seed=cell.seed,
                              checkpoint=str(cell.checkpoint), **values)
    backbone = _local_backend(cell.backbone, cell.checkpoint, str(cell.fixed.get("device", "cpu")),
                              str(cell.fixed.get("dtype", "float32"))).backbone
    return run_gradient_downstream(config, cell.out_dir, backbone=backbone, data=split,
                                   device=str(cell.fixed.get("device", "cpu")))


def run_cell(cell_dict: dict[str, Any], threads: int | None = None) -> dict[str, Any]:
    """Run, resume or skip one cell; never raises for a failing run.

    Args:
        cell_dict: :meth:`Cell.to_dict`.
        threads: torch threads for this process (None = leave as is).

    Returns:
        ``{"id", "status": "done"|"failed", "skipped": bool, "wall_s", "error"?}``.
    """
    cell = Cell.from_dict(cell_dict)
    out = Path(cell.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _write_json(out / CELL_FILE, cell.to_dict())
    if (out / RESULT_FILE).is_file():
        return {"id": cell.id, "status": "done", "skipped": True, "wall_s": 0.0}
    (out / ERROR_FILE).unlink(missing_ok=True)
    if threads is not None:
        set_worker_threads(threads)
    t0 = time.perf_counter()
    try:
        spec = _task(cell)
        (_run_gradient if cell.method.startswith(GRAD_PREFIX) else _run_blackbox)(cell, spec)
    except Exception as exc:  # noqa: BLE001 - a failed cell is recorded and must not stop the sweep
        error = {"type": type(exc).__name__, "message": str(exc), "traceback": traceback.format_exc(),
                 "cell": cell.id, "time": time.strftime("%Y-%m-%dT%H:%M:%S")}
        _write_json(out / ERROR_FILE, error)
        logger.error("cell %s failed: %s: %s", cell.id, type(exc).__name__, exc)
        return {"id": cell.id, "status": "failed", "skipped": False, "wall_s": time.perf_counter() - t0,
                "error": f"{type(exc).__name__}: {exc}"}
    return {"id": cell.id, "status": "done", "skipped": False, "wall_s": time.perf_counter() - t0}
