"""Multi-process training under torchrun: process-group set-up and the per-rank share of a batch.

torchrun sets ``WORLD_SIZE``, ``RANK`` and ``LOCAL_RANK``; we join the group (gloo on CPU, nccl on CUDA), wrap the
trainable model in DistributedDataParallel, and every rank draws the same task and global batch per step (shared
seed), then takes its contiguous share. The main rank (0) evaluates and writes files.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist

from bbt_mp2.errors import ConfigError

__all__ = ["DistContext", "setup_distributed"]

logger = logging.getLogger(__name__)


@dataclass
class DistContext:
    """Where this process stands in a (possibly single-process) run.

    Attributes:
        rank: global rank (0 when not distributed).
        world_size: number of processes (1 when not distributed).
        device: this process's device.
        owns_group: True when :func:`setup_distributed` created the process group (and must destroy it).
    """

    rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device("cpu")
    owns_group: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def share(self, idx: np.ndarray) -> np.ndarray:
        """This rank's contiguous share of a global batch (``len(idx) / world_size`` indices)."""
        if len(idx) % self.world_size:
            raise ConfigError(f"batch_size={len(idx)} is not divisible by the {self.world_size} processes; "
                              "choose a batch size that is a multiple of the process count")
        per = len(idx) // self.world_size
        return idx[self.rank * per:(self.rank + 1) * per]

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    def mean(self, value: float) -> float:
        """Mean of a float over all ranks (the value itself when not distributed)."""
        if not self.distributed:
            return value
        t = torch.tensor([value], dtype=torch.float64, device=self.device if self.device.type == "cuda" else "cpu")
        dist.all_reduce(t)
        return float(t.item()) / self.world_size

    def close(self) -> None:
        if self.owns_group and dist.is_initialized():
            dist.destroy_process_group()


def setup_distributed(device: str | torch.device | None = None) -> DistContext:
    """Join the torchrun process group when ``WORLD_SIZE > 1`` (else a single-process context).

    Args:
        device: ``"cpu"``, ``"cuda"`` (each rank takes ``cuda:LOCAL_RANK``) or an explicit device; None = cuda when
            available, else cpu.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(device)
    if world <= 1:
        return DistContext(device=device)
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    owns = False
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
        owns = True
    ctx = DistContext(rank=dist.get_rank(), world_size=dist.get_world_size(), device=device, owns_group=owns)
    logger.info("rank %d of %d on %s", ctx.rank, ctx.world_size, device)
    return ctx
