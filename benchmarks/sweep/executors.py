"""Run the cells of a sweep: local worker processes (default) or Ray tasks on an existing cluster.

:func:`run_sweep` plans the cells, writes ``<out>/sweep.json`` (config, cells, machine), skips finished cells,
hands the others to an executor and drives the one progress display. Both executors call
:func:`benchmarks.sweep.worker.run_cell`, which resumes interrupted cells and records failures, so a killed sweep is
continued by running the same command again.

Threads: local workers get ``threads`` torch threads each (default: the machine's cores divided by ``jobs``, at
least 1), so ``jobs x threads`` does not oversubscribe the CPU. Ray tasks reserve ``threads`` CPUs and, when the
cells run on ``cuda``, one GPU each.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import platform
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bbt_mp2.atomic_io import atomic_write_bytes
from bbt_mp2.errors import ConfigError
from benchmarks.sweep.config import SweepConfig
from benchmarks.sweep.plan import Cell, estimate_seconds, plan_cells
from benchmarks.sweep.progress import SweepProgress
from benchmarks.sweep.worker import cell_status, run_cell, set_worker_threads

__all__ = ["LocalExecutor", "RayExecutor", "SweepOutcome", "run_sweep", "machine_info", "dry_run_table",
           "default_threads", "SWEEP_FILE"]

logger = logging.getLogger(__name__)

SWEEP_FILE = "sweep.json"
POLL_S = 1.0


def default_threads(jobs: int) -> int:
    """Torch threads per local worker: the cores divided by the parallel cells, at least 1."""
    return max(1, (os.cpu_count() or 1) // max(1, jobs))


def machine_info() -> dict[str, Any]:
    """Host, CPU, cores, Python, torch and GPU (if any) of this machine, for the report header."""
    info: dict[str, Any] = {"host": platform.node(), "platform": platform.platform(),
                            "processor": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                            "python": platform.python_version()}
    try:
        import torch

        info["torch"] = torch.__version__
        info["gpu"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    except ImportError:  # the report side may run without torch
        info["torch"] = None
    return info


class LocalExecutor:
    """Cells in ``jobs`` spawned worker processes with ``threads`` torch threads each."""

    def __init__(self, jobs: int = 1, threads: int | None = None) -> None:
        if jobs < 1:
            raise ConfigError(f"--jobs must be >= 1, got {jobs}")
        self.jobs = jobs
        self.threads = threads or default_threads(jobs)

    def run(self, cells: list[Cell], progress: SweepProgress) -> dict[str, dict[str, Any]]:
        """Run ``cells``; returns cell id -> status dict (see :func:`run_cell`)."""
        statuses: dict[str, dict[str, Any]] = {}
        ctx = multiprocessing.get_context("spawn")
        logger.info("local executor: %d worker(s) x %d torch thread(s)", self.jobs, self.threads)
        pool = ProcessPoolExecutor(max_workers=self.jobs, mp_context=ctx, initializer=set_worker_threads,
                                   initargs=(self.threads,))
        try:
            pending: dict[Future, Cell] = {pool.submit(run_cell, c.to_dict()): c for c in cells}
            for cell in cells[: self.jobs]:
                progress.started(cell.id)
            queue = [c.id for c in cells[self.jobs:]]
            while pending:
                done, _ = wait(pending, timeout=POLL_S, return_when=FIRST_COMPLETED)
                for fut in done:
                    cell = pending.pop(fut)
                    try:
                        status = fut.result()
                    except Exception as exc:  # noqa: BLE001 - a crashed worker process fails its cell only
                        status = {"id": cell.id, "status": "failed", "error": f"worker crashed: {exc}"}
                    statuses[cell.id] = status
                    progress.finished(cell.id, status)
                    if queue:
                        progress.started(queue.pop(0))
                progress.poll()
        except KeyboardInterrupt:  # stop now: the running cells resume from their last generation next time
            logger.warning("interrupted: stopping the workers; rerun the same command to continue")
            for proc in list(getattr(pool, "_processes", {}).values()):
                proc.terminate()
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        return statuses


class RayExecutor:
    """Cells as Ray tasks on an existing cluster (``address``; None = the one this process is connected to, or
    ``auto``). The output directory must be on a filesystem every node sees (cells write their run directories)."""

    def __init__(self, address: str | None = None, threads: int = 1) -> None:
        try:
            import ray
        except ImportError:
            raise ConfigError("--executor ray needs ray (pip install 'bbt-mp2[ray]')") from None
        self.ray = ray
        self.threads = max(1, int(threads))
        if not ray.is_initialized():
            try:
                ray.init(address=address or "auto", include_dashboard=False, log_to_driver=False)
            except (ConnectionError, RuntimeError) as exc:
                raise ConfigError(f"cannot connect to a Ray cluster at {address or 'auto'} ({exc}); start one "
                                  f"(`ray start --head`) and pass --address HOST:PORT") from None

    def run(self, cells: list[Cell], progress: SweepProgress) -> dict[str, dict[str, Any]]:
        """Submit every cell as a task (``threads`` CPUs, 1 GPU on cuda) and collect the status dicts."""
        ray = self.ray
        statuses: dict[str, dict[str, Any]] = {}
        refs = {}
        for cell in cells:
            gpus = 1 if str(cell.fixed.get("device", "cpu")).startswith("cuda") else 0
            task = ray.remote(num_cpus=self.threads, num_gpus=gpus, max_retries=0)(run_cell)
            refs[task.remote(cell.to_dict(), self.threads)] = cell
            progress.started(cell.id)
        while refs:
            ready, _ = ray.wait(list(refs), num_returns=1, timeout=POLL_S)
            for ref in ready:
                cell = refs.pop(ref)
                try:
                    status = ray.get(ref)
                except Exception as exc:  # noqa: BLE001 - a lost task / dead node fails its cell only
                    status = {"id": cell.id, "status": "failed", "error": f"ray task failed: {exc}"}
                statuses[cell.id] = status
                progress.finished(cell.id, status)
            progress.poll()
        return statuses


@dataclass
class SweepOutcome:
    """What a sweep session did: every cell, and the ids per status at the end."""

    cells: list[Cell]
    statuses: dict[str, str] = field(default_factory=dict)
    wall_s: float = 0.0

    def count(self, status: str) -> int:
        return sum(1 for s in self.statuses.values() if s == status)


def _write_record(config: SweepConfig, cells: list[Cell], out: Path) -> None:
    import json

    record = {"config": config.to_dict(), "machine": machine_info(), "cells": [c.to_dict() for c in cells],
              "written": time.strftime("%Y-%m-%dT%H:%M:%S")}
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out / SWEEP_FILE, (json.dumps(record, indent=2, sort_keys=True, default=str) + "\n").encode())


def dry_run_table(cells: list[Cell], jobs: int = 1) -> str:
    """Markdown: one line per cell (calls, estimated wall time, state) and the totals (one worker, ``jobs``)."""
    lines = ["| cell | method | task | seed | calls | est. wall | state |", "|---|---|---|---|---|---|---|"]
    total_calls, total_s = 0, 0.0
    for c in cells:
        est = estimate_seconds(c)
        total_calls += c.calls
        total_s += est
        unit = " steps" if c.is_gradient else ""
        lines.append(f"| {c.id} | {c.method} | {c.task} | {c.seed} | {c.calls}{unit} | {est / 60:.1f} min | "
                     f"{cell_status(c.out_dir)} |")
    todo = sum(estimate_seconds(c) for c in cells if cell_status(c.out_dir) != "done")
    lines.append(f"\n{len(cells)} cells, {total_calls} calls/steps; estimated {total_s / 3600:.2f} h on one "
                 f"single-thread worker, {todo / 3600 / max(jobs, 1):.2f} h left with {jobs} job(s) (constant table "
                 "per backbone and device: benchmarks.sweep.plan.FORWARDS_PER_S)")
    return "\n".join(lines) + "\n"


def run_sweep(config: SweepConfig, out: str | Path, *, jobs: int | None = None, executor: str = "local",
              address: str | None = None, server: str | None = None, threads: int | None = None,
              show_progress: bool = True) -> SweepOutcome:
    """Plan, then run every unfinished cell of ``config`` under ``out``.

    Args:
        config: the sweep.
        out: output directory (``sweep.json``, ``cells/...``).
        jobs: parallel cells (local executor; default ``fixed.jobs`` or 1).
        executor: ``local`` or ``ray``.
        address: Ray cluster address (``--address``).
        server: run cells against this service URL instead of an in-process model.
        threads: torch threads per cell (default ``fixed.threads``, else cores / jobs).
        show_progress: draw the tqdm bar.

    Returns:
        The :class:`SweepOutcome` (statuses ``done``, ``failed``, ``partial``, ``missing`` per cell id).

    Raises:
        ConfigError: an invalid config or executor, before any cell runs.
    """
    if executor not in ("local", "ray"):
        raise ConfigError(f"--executor {executor!r}: choose local or ray")
    if server:
        config = SweepConfig.from_dict({**{k: v for k, v in config.to_dict().items() if k != "path"},
                                        "fixed": {**config.fixed, "server": server}}, path=config.path)
    out = Path(out)
    t0 = time.perf_counter()
    cells = plan_cells(config, out)
    _write_record(config, cells, out)
    jobs = int(jobs or config.fixed.get("jobs", 1))
    threads = int(threads or config.fixed.get("threads") or default_threads(jobs))
    todo = [c for c in cells if cell_status(c.out_dir) != "done"]
    logger.info("sweep %s: %d cells, %d finished already, %d to run", config.name, len(cells),
                len(cells) - len(todo), len(todo))
    progress = SweepProgress(cells, finished=[c.id for c in cells if c not in todo], disable=not show_progress)
    try:
        runner = LocalExecutor(jobs, threads) if executor == "local" else RayExecutor(address, threads)
        runner.run(todo, progress)
    finally:
        progress.close()
    return SweepOutcome(cells, {c.id: cell_status(c.out_dir) for c in cells}, time.perf_counter() - t0)
