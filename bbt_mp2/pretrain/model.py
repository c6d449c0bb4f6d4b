"""The trainable part of pre-training (modular prompts + MRC span head) and the differentiable prompted forward.

The backbone is frozen (``requires_grad`` False, eval mode) but autograd flows through it to the prompts. The
prompt of layer l (``n x h``) is added to the hidden states at positions ``1..n`` just before stock layer l runs:
the same mechanism as the evaluator, without its ``inference_mode``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from bbt_mp2.checkpoint import CheckpointConfig, MP2Checkpoint
from bbt_mp2.errors import CheckpointError, ShapeError

__all__ = ["PretrainModel", "prompted_hidden", "span_loss", "freeze_backbone", "head_linear"]

logger = logging.getLogger(__name__)


def freeze_backbone(backbone: nn.Module) -> nn.Module:
    """Put ``backbone`` in eval mode with ``requires_grad`` False on every parameter; returns it."""
    backbone.eval()
    for p in backbone.parameters():
        p.requires_grad_(False)
    return backbone


def head_linear(head: nn.Module) -> nn.Linear:
    """The ``Linear(h, 2)`` inside an MRC span head."""
    if isinstance(head, nn.Linear):
        return head
    linears = [m for m in head.modules() if isinstance(m, nn.Linear)]
    if len(linears) != 1:
        raise ShapeError(f"an MRC span head must hold exactly one Linear(h, 2); {type(head).__name__} holds "
                         f"{len(linears)}")
    return linears[0]


def prompted_hidden(backbone: Any, input_ids: Tensor, attention_mask: Tensor, token_type_ids: Tensor | None,
                    prompts: Tensor, layers: Sequence[int]) -> Tensor:
    """Differentiable forward with additive prompts.

    Args:
        backbone: a :class:`~bbt_mp2.backbones.base.Backbone` (frozen).
        input_ids: ``B x T`` int64.
        attention_mask: ``B x T`` 0/1.
        token_type_ids: ``B x T`` int64 or None.
        prompts: ``L' x n x h`` (shared by the batch) or ``B x L' x n x h`` float, one per entry of ``layers``.
        layers: the prompted layers (strictly increasing), ``len(layers) == L'``.

    Returns:
        ``B x T x h`` last hidden states.
    """
    per_example = prompts.dim() == 4
    n = prompts.shape[-2]
    if prompts.shape[-3] != len(layers) or input_ids.shape[1] < n + 1:
        raise ShapeError(f"prompts of shape {tuple(prompts.shape)} do not fit layers {tuple(layers)} and inputs of "
                         f"length {input_ids.shape[1]}; expected (..., {len(layers)}, n, hidden) with n < length")
    h = backbone.embed(input_ids, token_type_ids)
    ext = backbone.extended_mask(attention_mask, h.dtype)
    slot = {layer: j for j, layer in enumerate(layers)}
    for i in range(backbone.n_layers):
        if i in slot:
            p = prompts[:, slot[i]] if per_example else prompts[slot[i]].unsqueeze(0)
            h = torch.cat([h[:, :1], h[:, 1:1 + n] + p.to(h.dtype), h[:, 1 + n:]], dim=1)
        h = backbone.run_layer(i, h, ext)
    return h


def span_loss(start: Tensor, end: Tensor, start_positions: Tensor, end_positions: Tensor,
              attention_mask: Tensor) -> Tensor:
    """MRC span loss ``(CE(start) + CE(end)) / 2`` over real positions, batch mean (``bbt_mp2.losses.span_ce``).

    Args:
        start, end: ``B x T`` logits.
        start_positions, end_positions: ``B`` int64 gold token positions.
        attention_mask: ``B x T`` 0/1; padding positions are excluded from the softmax.

    Returns:
        Scalar float32 loss.
    """
    from bbt_mp2.losses import span_ce

    return span_ce(start, end, start_positions, end_positions, attention_mask)


class PretrainModel(nn.Module):
    """Modular prompts (routers, z, A) + MRC span head: every trainable tensor of pre-training.

    Args:
        prompt: a :class:`bbt_mp2.prompts.ModularPrompt` over ``layers``.
        head: a :class:`bbt_mp2.heads.MRCHead`; its bias is zeroed and frozen.
        layers: prompted layers, ``L'`` of them.
    """

    def __init__(self, prompt: nn.Module, head: nn.Module, layers: Sequence[int]) -> None:
        super().__init__()
        self.prompt = prompt
        self.head = head
        self.layers = tuple(int(x) for x in layers)
        lin = head_linear(head)
        if lin.bias is not None:
            with torch.no_grad():
                lin.bias.zero_()
            lin.bias.requires_grad_(False)

    @classmethod
    def build(cls, *, n_tasks: int, layers: Sequence[int], n_modules: int, d: int, n_tokens: int, hidden: int,
              seed: int) -> PretrainModel:
        """Fresh parameters (reference-code initialisation), drawn from generators seeded by ``seed``."""
        from bbt_mp2.heads import MRCHead
        from bbt_mp2.prompts import ModularPrompt

        prompt = ModularPrompt(n_tasks, tuple(layers), n_modules=n_modules, d=d, n_tokens=n_tokens, hidden=hidden,
                               seed=seed)
        head = MRCHead(hidden, seed=int(seed) + 1)  # weight N(0, 0.02^2), bias 0 (reference initialisation)
        return cls(prompt, head, layers)

    def router_parameters(self) -> list[nn.Parameter]:
        """The router logits (``T x L' x K``), trained at the fast learning rate."""
        return [self.prompt.router]

    def other_parameters(self) -> list[nn.Parameter]:
        """z, A and the head weight (the head bias is frozen at 0), trained at the slow learning rate."""
        routers = {id(p) for p in self.router_parameters()}
        return [p for p in self.parameters() if p.requires_grad and id(p) not in routers]

    def layer_prompts(self, task: int, routing: str, *, tau: float = 1.0,
                      generator: torch.Generator | None = None) -> Tensor:
        """``L' x n x h`` prompts of router row ``task`` (routing: relaxed_bernoulli, sigmoid or binary)."""
        return self.prompt.layer_prompts(task, routing, temperature=tau, generator=generator)

    def forward(self, backbone: Any, batch: dict[str, Tensor], task: int, *, routing: str = "relaxed_bernoulli",
                tau: float = 1.0, generator: torch.Generator | None = None,
                zero_prompt: bool = False) -> tuple[Tensor, Tensor]:
        """Start and end logits (``B x T`` each) of ``batch`` under task ``task``'s routed prompts.

        ``zero_prompt``: run the backbone unprompted (prompt dropout). Nothing before the head can get a gradient
        then, so the backbone runs without autograd (a forward pass, no backward through it); the prompts stay in
        the graph through an exact ``+ 0`` with zero gradient, so every rank of DistributedDataParallel reduces the
        same parameters.
        """
        prompts = self.layer_prompts(task, routing, tau=tau, generator=generator)
        ids, mask, types = batch["input_ids"], batch["attention_mask"], batch["token_type_ids"]
        if not zero_prompt:
            return self.head(prompted_hidden(backbone, ids, mask, types, prompts, self.layers))
        with torch.no_grad():
            h = prompted_hidden(backbone, ids, mask, types, torch.zeros_like(prompts), self.layers)
        start, end = self.head(h)
        keep = prompts.sum() * 0.0
        return start + keep, end + keep

    def to_checkpoint(self, *, backbone: Any, task_names: Sequence[str], n_tokens: int, routing: str,
                      meta: dict[str, Any] | None = None) -> MP2Checkpoint:
        """The MP2 checkpoint of the current parameters (embedding hash taken from ``backbone``)."""
        router, z, A = self.prompt.router, self.prompt.z, self.prompt.A
        lin = head_linear(self.head)
        cfg = CheckpointConfig(backbone=backbone.name, embedding_hash=backbone.embedding_hash(), n_tokens=n_tokens,
                               n_modules=int(z.shape[1]), d=int(z.shape[2]), hidden=int(lin.weight.shape[1]),
                               layers=self.layers, task_names=tuple(task_names), routing=routing, meta=meta or {})
        bias = lin.bias if lin.bias is not None else torch.zeros(2)
        return MP2Checkpoint(cfg, router.detach().clone(), z.detach().clone(), A.detach().clone(),
                             lin.weight.detach().clone(), bias.detach().clone())

    @classmethod
    def from_checkpoint(cls, ckpt: MP2Checkpoint, backbone: Any | None = None) -> PretrainModel:
        """Rebuild the trainable model from a checkpoint (refusing another backbone when one is given)."""
        c = ckpt.config
        if backbone is not None:
            ckpt.check_compatible(backbone_hash=backbone.embedding_hash(), hidden=backbone.hidden,
                                  n_layers=backbone.n_layers)
        model = cls.build(n_tasks=len(c.task_names), layers=c.layers, n_modules=c.n_modules, d=c.d,
                          n_tokens=c.n_tokens, hidden=c.hidden, seed=0)
        lin = head_linear(model.head)
        with torch.no_grad():
            model.prompt.router.copy_(ckpt.router)
            model.prompt.z.copy_(ckpt.z)
            model.prompt.A.copy_(ckpt.A)
            lin.weight.copy_(ckpt.head_weight)
            if lin.bias is not None:
                if ckpt.head_bias.abs().max() > 0:
                    raise CheckpointError("checkpoint head bias is not 0; MP2 checkpoints keep the head bias at 0")
        return model
