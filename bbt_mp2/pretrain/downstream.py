"""Gradient downstream methods, for comparison with the black-box ones (same run-directory conventions).

- ``mp2-grad``: MP2 two-stage by gradient descent. Stage I trains a fresh router row only (pre-trained z, A, head
  frozen); stage II fixes the router and trains the routed combination ``z_l = sum_k w_k z_{l,k}`` of every prompted
  layer (``P_l = z_l A_l``, A frozen) -- exactly the selected prompts, since A_l is shared by a layer's modules.
- ``prompt-tuning``: a layer-0 prompt ``n x h`` trained from zero (shallow, Lester et al.).
- ``p-tuning-v2``: a prompt ``n x h`` per layer trained from zero (deep, Liu et al.).

Every method scores options with the MRC span head of a pre-trained checkpoint (the design: the head comes only
from gradient pre-training); the head is frozen unless ``train_head``. Each step is one full-batch step on the
few-shot training set; dev is scored every ``eval_every`` steps; the best-dev parameters are tested.
Run directory: ``config.json``, ``history.jsonl``, ``result.json`` (start vs tuned, test with controls).
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from bbt_mp2.config import Config
from bbt_mp2.errors import ConfigError
from bbt_mp2.pretrain.data import batch_tensors, encode_examples
from bbt_mp2.pretrain.evaluation import DatasetScores, score_dataset
from bbt_mp2.pretrain.model import freeze_backbone, head_linear, prompted_hidden, span_loss

__all__ = ["DownstreamConfig", "DOWNSTREAM_METHODS", "run_gradient_downstream"]

logger = logging.getLogger(__name__)

DOWNSTREAM_METHODS = ("mp2-grad", "prompt-tuning", "p-tuning-v2")


@dataclass(frozen=True, kw_only=True)
class DownstreamConfig(Config):
    """One gradient downstream run (on the project's one config base, :class:`bbt_mp2.config.Config`).

    Attributes:
        method: one of :data:`DOWNSTREAM_METHODS`.
        task: registered task name.
        seed: few-shot split seed (and init seed).
        checkpoint: MP2 checkpoint directory (modules for mp2-grad; the head for every method).
        steps: full-batch optimisation steps (mp2-grad: stage I + stage II).
        stage1_steps: mp2-grad router-only steps (None = half of ``steps``).
        lr_router: AdamW learning rate of the router (stage I; reference gradient path 3e-3).
        lr_prompt: AdamW learning rate of prompts / z (and head when trained).
        weight_decay: AdamW weight decay.
        n_tokens: prompt length for prompt-tuning / p-tuning-v2 (None = the checkpoint's); mp2-grad uses the
            checkpoint's.
        max_length: maximum encoded length.
        loss: ``option_ce`` (default for option tasks) or ``span_ce``; ``auto`` picks by task type.
        eval_every: dev evaluation every this many steps.
        train_head: also train the head weight (bias stays 0).
        k: few-shot size override (None = the task's protocol k).
        data_root: task data folder (None = default).
    """

    method: str  # one of DOWNSTREAM_METHODS (required)
    task: str  # registered task name (required)
    seed: int  # few-shot split and init seed (required)
    checkpoint: str  # MP2 checkpoint directory or shipped name (required)
    steps: int = 200  # full-batch steps (mp2-grad: stage I + stage II)
    stage1_steps: int | None = None  # mp2-grad router-only steps; None = steps // 2
    lr_router: float = 3e-3  # AdamW lr of the router (stage I)
    lr_prompt: float = 1e-3  # AdamW lr of prompts / z (and the head when trained)
    weight_decay: float = 0.01  # AdamW weight decay
    n_tokens: int | None = None  # prompt length (prompt-tuning / p-tuning-v2); None = the checkpoint's
    max_length: int = 128  # maximum encoded length
    loss: str = "auto"  # auto | option_ce | span_ce
    eval_every: int = 20  # dev evaluation every this many steps
    train_head: bool = False  # also train the head weight
    k: int | None = None  # few-shot size override; None = the task's protocol k
    data_root: str | None = None  # task data folder; None = default

    def validate(self) -> None:
        super().validate()
        if self.method not in DOWNSTREAM_METHODS:
            raise ConfigError(f"gradient downstream method {self.method!r} is unknown; choose one of "
                              f"{DOWNSTREAM_METHODS}")
        self._check_str("task")
        self._check_int("seed", minimum=0)
        self._check_str("checkpoint")
        self._check_int("steps", minimum=1)
        self._check_int("eval_every", minimum=1)
        self._check_int("stage1_steps", minimum=0, optional=True)
        if self.stage1_steps is not None and self.stage1_steps > self.steps:
            self._fail("stage1_steps", f"in [0, steps={self.steps}]", "Lower it, or raise steps.")
        self._check_float("lr_router")
        self._check_float("lr_prompt")
        self._check_float("weight_decay", minimum=0.0)
        self._check_int("n_tokens", minimum=1, optional=True)
        self._check_int("max_length", minimum=1)
        self._check_choice("loss", ("auto", "option_ce", "span_ce"))
        if not isinstance(self.train_head, bool):
            self._fail("train_head", "True or False", "Pass train_head=true or false.")
        self._check_int("k", minimum=1, optional=True)
        self._check_str("data_root", optional=True)


class _Params(nn.Module):
    """The trainable parameters of a downstream method and how they become ``L' x n x h`` prompts."""

    def __init__(self, config: DownstreamConfig, ckpt: Any, backbone: Any, n_tokens: int) -> None:
        super().__init__()
        from bbt_mp2.heads import MRCHead

        self.method = config.method
        h = backbone.hidden
        self.head = MRCHead(h)
        lin = head_linear(self.head)
        with torch.no_grad():
            lin.weight.copy_(ckpt.head_weight)
            if lin.bias is not None:
                lin.bias.zero_()
                lin.bias.requires_grad_(False)
        lin.weight.requires_grad_(config.train_head)
        if config.method == "mp2-grad":
            self.layers = tuple(ckpt.config.layers)
            g = torch.Generator().manual_seed(config.seed)
            shape = (len(self.layers), ckpt.config.n_modules)
            self.router = nn.Parameter((torch.rand(shape, generator=g) * 2 - 1) * 1e-3)
            self.register_buffer("z", ckpt.z.detach().clone())
            self.register_buffer("A", ckpt.A.detach().clone())
            self.zc = nn.Parameter(torch.zeros(len(self.layers), ckpt.config.d))
            self.stage = 1
        else:
            self.layers = (0,) if config.method == "prompt-tuning" else tuple(range(backbone.n_layers))
            self.prompt = nn.Parameter(torch.zeros(len(self.layers), n_tokens, h))
        self.n_tokens, self.hidden = n_tokens, h

    def start_stage2(self) -> None:
        """Fix the router and start the combined z from the current routing (mp2-grad)."""
        from bbt_mp2.prompts import combined_z

        with torch.no_grad():
            self.zc.copy_(combined_z(self.router.detach(), self.z, "sigmoid"))
        self.stage = 2

    def prompts(self) -> Tensor:
        if self.method != "mp2-grad":
            return self.prompt
        if self.stage == 1:
            from bbt_mp2.prompts import routing_weights

            zc = torch.einsum("lk,lkd->ld", routing_weights(self.router, "sigmoid"), self.z)
        else:
            zc = self.zc
        return torch.bmm(zc.unsqueeze(1), self.A).reshape(len(self.layers), self.n_tokens, self.hidden)

    def trainable(self) -> list[nn.Parameter]:
        head = [head_linear(self.head).weight] if head_linear(self.head).weight.requires_grad else []
        if self.method != "mp2-grad":
            return [self.prompt, *head]
        return [self.router] if self.stage == 1 else [self.zc, *head]


def _loss(params: _Params, backbone: Any, batch: dict[str, Tensor], loss: str) -> Tensor:
    from bbt_mp2.losses import option_ce

    h = prompted_hidden(backbone, batch["input_ids"], batch["attention_mask"], batch["token_type_ids"],
                        params.prompts(), params.layers)
    start, end = params.head(h)
    if loss == "option_ce":
        return option_ce(params.head.option_scores(start, end, batch["option_spans"]), batch["labels"])
    return span_loss(start, end, batch["start_positions"], batch["end_positions"], batch["attention_mask"])


def _controls(scores: DatasetScores) -> dict[str, Any]:
    from bbt_mp2.pretrain.evaluation import prediction_controls

    return prediction_controls(scores)


def run_gradient_downstream(config: DownstreamConfig, out_dir: str | os.PathLike[str], *, backbone: Any | None = None,
                            data: Any | None = None, device: str = "cpu") -> dict[str, Any]:
    """Run one gradient downstream method on a few-shot split; writes and returns ``result.json``'s content.

    Args:
        config: the run.
        out_dir: run directory (``config.json``, ``history.jsonl``, ``result.json``, ``best_prompts.pt``).
        backbone: a loaded backbone (default: the checkpoint's backbone name via ``load_backbone``).
        data: a few-shot split with ``train``/``dev``/``test`` example lists (default: ``tasks.fewshot``).
        device: torch device.

    Raises:
        CheckpointError: the checkpoint was trained on another backbone. ConfigError: bad config.
    """
    from bbt_mp2.losses import resolve_loss

    t0 = time.perf_counter()
    backbone, ckpt, enc, n_tokens = _setup(config, backbone, data, device)
    params = _Params(config, ckpt, backbone, n_tokens).to(device)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps({**config.to_dict(), "n_tokens_used": n_tokens,
                                                 "sizes": {k: len(v) for k, v in enc.items()}}, indent=2,
                                                sort_keys=True))
    best = _train(config, params, backbone, enc, out, resolve_loss(config.loss, enc["train"].n_options), device)
    return _finish(config, params, backbone, enc, out, best, device, t0)


def _setup(config: DownstreamConfig, backbone: Any | None, data: Any | None, device: str
           ) -> tuple[Any, Any, dict[str, Any], int]:
    """Backbone (checked against the checkpoint), checkpoint, encoded train/dev/test, prompt length."""
    from bbt_mp2.checkpoint import load_checkpoint
    from bbt_mp2.tasks import fewshot, get_task

    spec = get_task(config.task)
    ckpt = load_checkpoint(config.checkpoint)
    if backbone is None:
        from bbt_mp2.backbones import load_backbone

        backbone = load_backbone(ckpt.config.backbone, device=device)
    freeze_backbone(backbone)
    ckpt.check_compatible(backbone_hash=backbone.embedding_hash(), hidden=backbone.hidden, n_layers=backbone.n_layers)
    if config.method == "mp2-grad" and config.n_tokens not in (None, ckpt.config.n_tokens):
        raise ConfigError(f"mp2-grad uses the checkpoint's n_tokens={ckpt.config.n_tokens}; got {config.n_tokens}")
    n_tokens = config.n_tokens or ckpt.config.n_tokens
    split = data if data is not None else fewshot(config.task, config.seed, data_root=config.data_root, k=config.k)
    enc = {name: encode_examples(spec, getattr(split, name), backbone, n_tokens=n_tokens,
                                 max_length=config.max_length) for name in ("train", "dev", "test")}
    return backbone, ckpt, enc, n_tokens


def _train(config: DownstreamConfig, params: _Params, backbone: Any, enc: dict[str, Any], out: Path, loss_name: str,
           device: str) -> dict[str, Any]:
    """Full-batch AdamW steps with dev selection; returns the best-dev snapshot (and the start)."""
    batch = batch_tensors(enc["train"], range(len(enc["train"])), device)

    def dev_score() -> float:
        with torch.no_grad():
            return score_dataset(backbone, params.head, enc["dev"], params.prompts().detach(), params.layers,
                                 device=device).metric

    start_head = head_linear(params.head).weight.detach().clone()
    best = {"dev": dev_score(), "step": 0, "prompts": params.prompts().detach().clone(), "head": start_head}
    best.update(start_dev=best["dev"], start_prompts=best["prompts"], start_head=start_head)
    stage1 = config.stage1_steps if config.stage1_steps is not None else config.steps // 2
    opt = None
    with open(out / "history.jsonl", "w") as history:
        for step in range(1, config.steps + 1):
            if opt is None or (config.method == "mp2-grad" and step == stage1 + 1):
                if config.method == "mp2-grad" and step == stage1 + 1:
                    params.start_stage2()
                lr = config.lr_router if config.method == "mp2-grad" and params.stage == 1 else config.lr_prompt
                opt = torch.optim.AdamW(params.trainable(), lr=lr, weight_decay=config.weight_decay)
            loss = _loss(params, backbone, batch, loss_name)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            record: dict[str, Any] = {"step": step, "loss": float(loss.detach())}
            if step % config.eval_every == 0 or step == config.steps:
                record["dev_metric"] = dev_score()
                if record["dev_metric"] > best["dev"]:
                    best.update(dev=record["dev_metric"], step=step, prompts=params.prompts().detach().clone(),
                                head=head_linear(params.head).weight.detach().clone())
            history.write(json.dumps(record) + "\n")
            history.flush()
    return best


def _head(weight: Tensor, device: str) -> nn.Module:
    from bbt_mp2.heads import MRCHead

    head = MRCHead(weight.shape[1]).to(device)
    with torch.no_grad():
        head_linear(head).weight.copy_(weight)
        if head_linear(head).bias is not None:
            head_linear(head).bias.zero_()
    return head


def _finish(config: DownstreamConfig, params: _Params, backbone: Any, enc: dict[str, Any], out: Path,
            best: dict[str, Any], device: str, t0: float) -> dict[str, Any]:
    test_start = score_dataset(backbone, _head(best["start_head"], device), enc["test"], best["start_prompts"],
                               params.layers, device=device)
    test_tuned = score_dataset(backbone, _head(best["head"], device), enc["test"], best["prompts"], params.layers,
                               device=device)
    torch.save({"prompts": best["prompts"].cpu(), "layers": params.layers, "head_weight": best["head"].cpu()},
               out / "best_prompts.pt")
    result = {"out_dir": str(out), "task": config.task, "method": config.method, "seed": config.seed,
              "steps": config.steps, "start": {"dev_metric": best["start_dev"], "test": _controls(test_start)},
              "tuned": {"dev_metric": best["dev"], "selected_at_step": best["step"], "test": _controls(test_tuned)},
              "wall_time": round(time.perf_counter() - t0, 3)}
    (out / "result.json").write_text(json.dumps(result, indent=2, sort_keys=True))
    return result
