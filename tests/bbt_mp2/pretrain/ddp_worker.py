"""torchrun worker of test_pretrain_distributed.py: a tiny DDP pre-training run; every rank saves its parameters.

Usage: ``python -m torch.distributed.run --standalone --nproc_per_node 2 ddp_worker.py OUT_DIR CONFIG_JSON``
"""

from __future__ import annotations

import json
import os
import sys

import torch

torch.set_num_threads(1)

from bbt_mp2.pretrain import PretrainConfig, load_task_data, pretrain  # noqa: E402
from bbt_mp2.pretrain import trainer as trainer_module  # noqa: E402
from bbt_mp2.testing import build_tiny_backbone  # noqa: E402


def main() -> None:
    out, cfg = sys.argv[1], PretrainConfig.from_dict(json.loads(sys.argv[2]))
    backbone = build_tiny_backbone("bert", n_layers=2, hidden=32, seed=0)
    data = load_task_data(cfg.tasks, backbone, n_tokens=cfg.n_tokens, max_length=cfg.max_length, seed=cfg.seed,
                          dev_size=cfg.dev_size, train_size=cfg.train_size)
    finish = trainer_module._finish

    def finish_and_dump(trainer):
        finish(trainer)
        torch.save(trainer.model.state_dict(), os.path.join(out, f"rank{trainer.ctx.rank}.pt"))

    trainer_module._finish = finish_and_dump
    pretrain(cfg, out, backbone=backbone, task_data=data, device="cpu", progress=False)


if __name__ == "__main__":
    main()
