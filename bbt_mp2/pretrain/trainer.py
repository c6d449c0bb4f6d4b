"""Multi-task pre-training of modular prompts by gradient descent: :func:`pretrain`.

Each step draws one task (by the configured weights) and a global batch from it, samples one relaxed-Bernoulli
routing for the batch, and takes an AdamW step on routers, z, A and the head weight; the backbone stays frozen.
Every ``eval_every`` steps the main rank scores each task's dev part and keeps the best-mean-dev MP2 checkpoint;
every ``save_every`` steps it writes the resumable state atomically.
"""

from __future__ import annotations

import logging
import math
import os
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from bbt_mp2.checkpoint import save_checkpoint
from bbt_mp2.errors import ConfigError, ResumeError
from bbt_mp2.pretrain.config import PretrainConfig
from bbt_mp2.pretrain.data import (
    TaskBatchSampler,
    TaskData,
    batch_tensors,
    load_task_data,
    prompt_dropped,
    step_generator,
)
from bbt_mp2.pretrain.distributed import DistContext, setup_distributed
from bbt_mp2.pretrain.evaluation import dev_evaluator, score_dataset
from bbt_mp2.pretrain.model import PretrainModel, freeze_backbone, span_loss
from bbt_mp2.pretrain.state import RunFiles, package_versions

__all__ = ["pretrain", "make_optimizer", "make_scheduler", "evaluate_dev"]

logger = logging.getLogger(__name__)


def make_optimizer(model: PretrainModel, config: PretrainConfig) -> torch.optim.AdamW:
    """AdamW with two groups: routers (``router_lr``) and z / A / head weight (``prompt_lr``); a head-only run
    (``config.head_only``) optimises the head weight alone, so weight decay leaves the unused modules as they are."""
    if config.head_only:
        head = [p for p in model.head.parameters() if p.requires_grad]
        return torch.optim.AdamW([{"params": head, "lr": config.prompt_lr, "name": "head"}],
                                 weight_decay=config.weight_decay)
    groups = [
        {"params": model.router_parameters(), "lr": config.router_lr, "name": "router"},
        {"params": model.other_parameters(), "lr": config.prompt_lr, "name": "prompt"},
    ]
    return torch.optim.AdamW(groups, weight_decay=config.weight_decay)


def make_scheduler(optimizer: torch.optim.Optimizer, config: PretrainConfig) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up, then constant / linear / cosine decay to 0 at ``steps``."""
    warm, total, kind = config.warmup_steps, config.steps, config.schedule

    def factor(step: int) -> float:
        if warm and step < warm:
            return (step + 1) / warm
        if kind == "constant":
            return 1.0
        frac = min(1.0, (step - warm) / max(1, total - warm))
        return 1.0 - frac if kind == "linear" else 0.5 * (1.0 + math.cos(math.pi * frac))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def evaluate_dev(model: PretrainModel, backbone: Any, data: list[TaskData], config: PretrainConfig,
                 device: torch.device | str = "cpu") -> dict[str, float]:
    """Dev metric of every task under the inference routing, by task name: each task's own metric (accuracy,
    binary F1 for MRPC, span F1), scored by the evaluator (:func:`bbt_mp2.pretrain.evaluation.score_dataset`).
    A head-only run (``config.head_only``) is scored with the zero prompt, the prompt it trains with."""
    out = {}
    evaluator = dev_evaluator(backbone, model.head, batch_size=config.eval_batch_size, max_length=config.max_length)
    with torch.no_grad():
        for t, td in enumerate(data):
            prompts = model.layer_prompts(t, config.eval_routing)
            if config.head_only:
                prompts = torch.zeros_like(prompts)
            out[td.spec.name] = score_dataset(backbone, model.head, td.dev, prompts, model.layers,
                                              evaluator=evaluator).metric
    return out


class _Trainer:
    """One pre-training run (private; :func:`pretrain` is the API)."""

    def __init__(self, config: PretrainConfig, files: RunFiles, ctx: DistContext, backbone: Any,
                 data: list[TaskData]) -> None:
        self.config, self.files, self.ctx, self.backbone, self.data = config, files, ctx, backbone, data
        layers = config.layers(backbone.n_layers)
        self.model = PretrainModel.build(n_tasks=len(data), layers=layers, n_modules=config.n_modules, d=config.d,
                                         n_tokens=config.n_tokens, hidden=backbone.hidden, seed=config.seed)
        self.model.to(ctx.device)
        self.optimizer = make_optimizer(self.model, config)
        self.scheduler = make_scheduler(self.optimizer, config)
        self.sampler = TaskBatchSampler([len(td.train) for td in data], config.sampling_probs(), config.batch_size,
                                        config.seed)
        self.step = 0
        self.best: dict[str, Any] = {"metric": -math.inf, "step": None, "dev": {}}
        self.last_eval: dict[str, Any] = {"metric": -math.inf, "step": None, "dev": {}}
        self.window = {"loss": 0.0, "count": 0}
        self.wall = 0.0
        self.net: nn.Module = self.model
        if ctx.distributed:
            ids = [ctx.device.index] if ctx.device.type == "cuda" else None
            self.net = nn.parallel.DistributedDataParallel(self.model, device_ids=ids)

    # ---- state ----
    def state_dict(self) -> dict[str, Any]:
        return {"step": self.step, "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(), "sampler": self.sampler.state_dict(), "best": self.best,
                "last_eval": self.last_eval, "window": dict(self.window), "wall": self.wall,
                "config": self.config.to_dict(), "versions": package_versions(),
                "embedding_hash": self.backbone.embedding_hash()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state["embedding_hash"] != self.backbone.embedding_hash():
            raise ResumeError(f"{self.files.dir} was trained on another backbone (embedding hash "
                              f"{state['embedding_hash']}, loaded {self.backbone.embedding_hash()}); load the same "
                              "backbone or use another output directory")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.sampler.load_state_dict(state["sampler"])
        self.step, self.best, self.window, self.wall = state["step"], state["best"], state["window"], state["wall"]
        self.last_eval = state.get("last_eval", self.best)  # states written before last_eval existed

    # ---- one step ----
    def train_step(self) -> float:
        task, idx = self.sampler.draw(self.step)
        batch = batch_tensors(self.data[task].train, self.ctx.share(idx), self.ctx.device)
        gen = step_generator(self.config.seed, self.step, self.ctx.device)
        self.net.train(False)  # no dropout anywhere; routing is sampled because routing="relaxed_bernoulli"
        drop = prompt_dropped(self.config.seed, self.step, self.config.prompt_dropout)
        start, end = self.net(self.backbone, batch, task, routing="relaxed_bernoulli", tau=self.config.tau,
                              generator=gen, zero_prompt=drop)
        loss = span_loss(start, end, batch["start_positions"], batch["end_positions"], batch["attention_mask"])
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.config.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        self.optimizer.step()
        self.scheduler.step()
        self.step += 1
        return self.ctx.mean(float(loss.detach()))

    def maybe_log(self, loss: float) -> None:
        self.window["loss"] += loss
        self.window["count"] += 1
        if self.step % self.config.log_every == 0 or self.step == self.config.steps:
            lrs = {g.get("name", str(i)): g["lr"] for i, g in enumerate(self.optimizer.param_groups)}
            self.files.log({"event": "train", "step": self.step, "loss": self.window["loss"] / self.window["count"],
                            "lr": lrs, "wall_s": round(self.wall, 2)})
            self.window = {"loss": 0.0, "count": 0}

    def maybe_eval(self) -> None:
        every, last = self.config.eval_every, self.step == self.config.steps
        if not (last or (every and self.step % every == 0)):
            return
        if self.ctx.is_main:
            dev = evaluate_dev(self.model, self.backbone, self.data, self.config, self.ctx.device)
            mean = sum(dev.values()) / len(dev)
            improved = mean > self.best["metric"]
            self.last_eval = {"metric": mean, "step": self.step, "dev": dev}
            if improved:
                self.best = {"metric": mean, "step": self.step, "dev": dev}
                save_checkpoint(self.checkpoint(dev, mean), self.files.best_path)
            self.files.log({"event": "eval", "step": self.step, "dev": dev, "dev_mean": mean, "best": improved})
            logger.info("step %d: mean dev %.4f%s", self.step, mean, " (best)" if improved else "")
        self.ctx.barrier()

    def checkpoint(self, dev: dict[str, float], mean: float) -> Any:
        meta = {"step": self.step, "dev": dev, "dev_mean": mean, "pretrain_config": self.config.to_dict(),
                "wall_s": round(self.wall, 1)}
        return self.model.to_checkpoint(backbone=self.backbone, task_names=[td.spec.name for td in self.data],
                                        n_tokens=self.config.n_tokens, routing=self.config.eval_routing, meta=meta)

    def run(self, *, progress: bool, stop_after: int | None) -> None:
        bar = tqdm(total=self.config.steps, initial=self.step, disable=not (progress and self.ctx.is_main),
                   desc="pretrain", dynamic_ncols=True)
        try:
            while self.step < self.config.steps:
                t0 = time.perf_counter()
                loss = self.train_step()
                self.wall += time.perf_counter() - t0
                self.maybe_log(loss)
                self.maybe_eval()
                if self.step % self.config.save_every == 0 or self.step == self.config.steps:
                    self.files.save_state(self.state_dict())
                    self.ctx.barrier()
                bar.update(1)
                bar.set_postfix(loss=f"{loss:.3f}", best=f"{self.best['metric']:.3f}")
                if stop_after is not None and self.step >= stop_after:
                    return
        finally:
            bar.close()


def pretrain(config: PretrainConfig, out_dir: str | os.PathLike[str], resume: bool = True, *,
             backbone: Any | None = None, task_data: list[TaskData] | None = None,
             device: str | torch.device | None = None, progress: bool = True, stop_after: int | None = None) -> Path:
    """Pre-train modular prompts on ``config.tasks``; returns the best-mean-dev MP2 checkpoint directory.

    Under torchrun (``WORLD_SIZE > 1``) every process calls this; rank 0 evaluates and writes.

    Args:
        config: the run's :class:`PretrainConfig`.
        out_dir: run directory (see :mod:`bbt_mp2.pretrain.state` for its files).
        resume: continue from ``out_dir/state.pt`` when present; False refuses a directory that holds a run.
        backbone: a loaded backbone (default: ``load_backbone(config.backbone)``); it is frozen in place.
        task_data: pre-encoded tasks in ``config.tasks`` order (default: loaded and encoded here).
        device: ``cpu``, ``cuda`` or a device; None = cuda when available.
        progress: show a tqdm bar on the main rank.
        stop_after: return right after this step without writing more (simulates a kill; for tests).

    Returns:
        Path of ``out_dir/checkpoint`` (best mean dev).

    Raises:
        UnknownNameError, DataError: bad tasks. ResumeError: ``out_dir`` holds another run.
    """
    ctx = setup_distributed(device)
    try:
        files = RunFiles(out_dir, write=ctx.is_main)
        if files.has_state() and not resume:
            raise ResumeError(f"{files.dir} already holds a pre-training run; resume it or choose another --out")
        state = files.load_state(config) if resume and files.has_state() else None  # config checked first
        backbone, task_data = _inputs(config, ctx, backbone, task_data)
        trainer = _Trainer(config, files, ctx, backbone, task_data)
        if state is not None:
            trainer.load_state_dict(state)
            files.truncate_history(trainer.step)
            logger.info("resumed %s at step %d", files.dir, trainer.step)
        files.write_config(config)
        trainer.run(progress=progress, stop_after=stop_after)
        if trainer.step >= config.steps:
            _finish(trainer)
        return files.best_path
    finally:
        ctx.close()


def _inputs(config: PretrainConfig, ctx: DistContext, backbone: Any | None,
            task_data: list[TaskData] | None) -> tuple[Any, list[TaskData]]:
    """The frozen backbone on this rank's device and the encoded tasks (checking task names before loading)."""
    if task_data is None:  # fail fast on unknown task names, before loading a model
        from bbt_mp2.tasks import get_task

        for name in config.tasks:
            get_task(name)
    elif [td.spec.name for td in task_data] != list(config.tasks):
        raise ConfigError(f"task_data holds tasks {[td.spec.name for td in task_data]}; the config lists "
                          f"{list(config.tasks)} (same names, same order)")
    if backbone is None:
        from bbt_mp2.backbones import load_backbone

        backbone = load_backbone(config.backbone, device=str(ctx.device))
    freeze_backbone(backbone.to(ctx.device))
    if task_data is None:
        task_data = load_task_data(config.tasks, backbone, n_tokens=config.n_tokens, max_length=config.max_length,
                                   seed=config.seed, dev_size=config.dev_size, train_size=config.train_size,
                                   data_root=config.data_root)
    return backbone, task_data


def _finish(trainer: _Trainer) -> None:
    if not trainer.ctx.is_main:
        return
    files, best = trainer.files, trainer.best
    last = trainer.last_eval
    save_checkpoint(trainer.checkpoint(last["dev"], last["metric"]), files.last_path)
    files.write_result({"steps": trainer.step, "best_step": best["step"], "best_dev_mean": best["metric"],
                        "best_dev": best["dev"], "train_wall_s": round(trainer.wall, 1),
                        "checkpoint": str(files.best_path), "last": str(files.last_path)})
