"""Projections from intrinsic vectors to layer prompts, and the modular prompt of MP2.

A prompt for layer ``l`` is an ``n_tokens x hidden`` tensor added to the hidden states at placeholder positions
``1..n_tokens`` just before layer ``l`` (``l = 0``: the embedding output). BBT/BBTv2 map an intrinsic vector
``z`` (``d``) to it through a fixed projection, ``p_l = (z @ A_l).reshape(n_tokens, hidden)`` with ``A_l`` a
``d x (n_tokens*hidden)`` matrix:

- ``normal``: ``A_l ~ N(0, s_l^2)``, ``s_l = alpha * std_l / (sqrt(d) * sigma)``; ``std_l`` is the std of the
  word-embedding matrix for ``l = 0`` and the clipped std of the hidden states entering layer ``l`` for
  ``l > 0`` (see :func:`hidden_state_std`);
- ``uniform``: ``A_l ~ U(-1/sqrt(d), 1/sqrt(d))``;
- ``learned``: ``A_l`` of an MP2 checkpoint.

Random projections are stored as (seed, spec), never as matrices: layer ``l`` draws from its own child seed
``np.random.SeedSequence(seed).spawn(l + 1)[l]`` with a CPU ``torch.Generator``, so ``A_l`` is the same on every
device and does not depend on which other layers were built or in which order.

MP2's :class:`ModularPrompt` holds ``K`` modules per prompted layer (``z``: ``L' x K x d``), the projections
``A`` (``L' x d x (n*h)``) and router logits (``T x L' x K``); a task's layer prompt is
``sum_k w_k z_{l,k} @ A_l`` with routing weights ``w`` normalised to sum 1.
"""

from __future__ import annotations

import functools
import logging
import math
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor, nn

from bbt_mp2.backend import ProjectionSpec
from bbt_mp2.errors import ConfigError, ShapeError
from bbt_mp2.routing import ROUTING_MODES, route, routing_weights  # re-exported: the one routing rule

if TYPE_CHECKING:
    from bbt_mp2.backbones.base import Backbone
    from bbt_mp2.checkpoint import MP2Checkpoint
    from bbt_mp2.encoding import EncodedDataset

__all__ = [
    "ROUTING_MODES",
    "layer_seed",
    "build_projection",
    "clipped_std",
    "embedding_std",
    "hidden_state_std",
    "routing_weights",
    "route",
    "combined_z",
    "ModularPrompt",
]

logger = logging.getLogger(__name__)



def layer_seed(seed: int, layer: int) -> int:
    """The torch seed of layer ``layer``'s projection: child ``layer`` of ``np.random.SeedSequence(seed)``.

    Equal to ``SeedSequence(seed).spawn(layer + 1)[layer]``, reduced to one 63-bit integer.
    """
    if layer < 0:
        raise ConfigError(f"layer index must be >= 0, got {layer}")
    child = np.random.SeedSequence(int(seed), spawn_key=(int(layer),))
    return int(child.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


@functools.lru_cache(maxsize=64)
def _random_projection(kind: str, seed: int, layer: int, d: int, width: int, scale: float) -> Tensor:
    gen = torch.Generator(device="cpu")
    gen.manual_seed(layer_seed(seed, layer))
    if kind == "normal":
        a = torch.randn(d, width, generator=gen, dtype=torch.float32)
    else:
        a = torch.rand(d, width, generator=gen, dtype=torch.float32).mul_(2.0).sub_(1.0)
    return a.mul_(scale)


def build_projection(
    spec: ProjectionSpec,
    *,
    d: int,
    n_tokens: int,
    hidden: int,
    layer: int,
    std: float | None = None,
    checkpoint: MP2Checkpoint | None = None,
) -> Tensor:
    """Build the projection ``A_l`` of one layer.

    Random matrices are cached (keyed by kind, seed, layer, shape and scale); the returned tensor may be shared
    with later calls, so do not modify it in place.

    Args:
        spec: the projection spec (kind, seed, alpha, sigma, checkpoint).
        d: intrinsic dimension.
        n_tokens: prompt length n.
        hidden: hidden size h.
        layer: the injection point ``l`` this matrix serves (selects the child seed / checkpoint row).
        std: ``std_l`` for ``normal`` (word-embedding std for layer 0, :func:`hidden_state_std` for l > 0).
        checkpoint: the loaded MP2 checkpoint for ``learned`` (else it is loaded from ``spec.checkpoint``).

    Returns:
        ``d x (n_tokens*hidden)`` float32 CPU tensor; ``z @ A`` reshaped to ``(n_tokens, hidden)`` is the prompt.

    Raises:
        ConfigError: missing/invalid ``std`` for ``normal``, non-positive sizes.
        CheckpointError: the checkpoint does not prompt ``layer`` or has another ``d``/``n_tokens``/``hidden``.
    """
    if d <= 0 or n_tokens <= 0 or hidden <= 0:
        raise ConfigError(f"projection sizes must be > 0, got d={d}, n_tokens={n_tokens}, hidden={hidden}")
    width = n_tokens * hidden
    if spec.kind == "normal":
        if std is None or not math.isfinite(std) or std <= 0:
            raise ConfigError(
                f"normal projection of layer {layer} needs a finite std > 0 (embedding or hidden-state std), "
                f"got {std!r}; compute it with embedding_std()/hidden_state_std()"
            )
        scale = spec.alpha * float(std) / (math.sqrt(d) * spec.sigma)
        return _random_projection("normal", spec.seed, layer, d, width, scale)
    if spec.kind == "uniform":
        return _random_projection("uniform", spec.seed, layer, d, width, 1.0 / math.sqrt(d))
    return _learned_projection(spec, checkpoint, d=d, n_tokens=n_tokens, hidden=hidden, layer=layer)


def _learned_projection(
    spec: ProjectionSpec, checkpoint: MP2Checkpoint | None, *, d: int, n_tokens: int, hidden: int, layer: int
) -> Tensor:
    from bbt_mp2.checkpoint import load_checkpoint
    from bbt_mp2.errors import CheckpointError

    ckpt = checkpoint if checkpoint is not None else load_checkpoint(str(spec.checkpoint))
    c = ckpt.config
    if (c.d, c.n_tokens, c.hidden) != (d, n_tokens, hidden):
        raise CheckpointError(
            f"checkpoint has d={c.d}, n_tokens={c.n_tokens}, hidden={c.hidden}; the request asks for d={d}, "
            f"n_tokens={n_tokens}, hidden={hidden}. Use the checkpoint's d and n_tokens."
        )
    return ckpt.A[ckpt.layer_index(layer)].detach().to("cpu", torch.float32)


def clipped_std(values: Tensor, *, rounds: int = 5, n_sigma: float = 3.0) -> float:
    """Std of ``values`` after ``rounds`` rounds of clamping to ``mean +- n_sigma * std`` (BBTv2).

    Each round clamps every entry to ``[mu - n_sigma*s, mu + n_sigma*s]`` and recomputes ``mu`` and ``s``
    (population std, ddof 0). Computed in float64.

    Args:
        values: any-shape float tensor (flattened).

    Returns:
        The final std as a Python float.
    """
    x = values.detach().reshape(-1).to("cpu", torch.float64)
    if x.numel() == 0:
        raise ShapeError("clipped_std got an empty tensor; the dataset has no real tokens")
    for _ in range(rounds):
        mu, s = x.mean(), x.std(correction=0)
        x = x.clamp(mu - n_sigma * s, mu + n_sigma * s)
    return float(x.std(correction=0))


def embedding_std(backbone: Backbone) -> float:
    """Population std over all entries of the input word-embedding matrix (``std_0`` of BBT, unclipped)."""
    return float(backbone.word_embeddings().detach().to("cpu", torch.float64).std(correction=0))


def hidden_state_std(
    backbone: Backbone, dataset: EncodedDataset, *, batch_size: int = 32, device: str | torch.device | None = None
) -> list[float]:
    """Clipped std of the hidden states entering each layer, with zero prompts, on ``dataset``.

    Entry ``l`` (``0 <= l < L``) is :func:`clipped_std` of the states entering layer ``l`` (entry 0 = the
    embedding output). Only real-token entries (``attention_mask == 1``, placeholders included) are used.
    BBTv2 used every entry including padding; we leave padding out so the scale does not depend on
    ``max_length``/the amount of padding (padded positions hold states of tokens nobody attends to).

    Args:
        backbone: the frozen backbone (its own device/dtype; stats are computed in float64).
        dataset: the encoded training data.
        batch_size: examples per forward.
        device: where to run (default: the backbone's parameter device).

    Returns:
        ``L`` floats.
    """
    if len(dataset) == 0:
        raise ShapeError("hidden_state_std needs a non-empty dataset")
    param = next(backbone.parameters())
    device = param.device if device is None else torch.device(device)
    collected: list[list[Tensor]] = [[] for _ in range(backbone.n_layers)]
    with torch.inference_mode():
        for start in range(0, len(dataset), batch_size):
            sl = slice(start, start + batch_size)
            mask = torch.as_tensor(dataset.attention_mask[sl], device=device)
            t = int(mask.sum(1).max())
            ids = torch.as_tensor(dataset.input_ids[sl, :t], device=device)
            tt = torch.as_tensor(dataset.token_type_ids[sl, :t], device=device)
            mask = mask[:, :t]
            h = backbone.embed(ids, tt)
            ext = backbone.extended_mask(mask, h.dtype)
            real = mask.bool()
            for layer in range(backbone.n_layers):
                collected[layer].append(h[real].float().cpu())
                if layer + 1 < backbone.n_layers:
                    h = backbone.run_layer(layer, h, ext)
    stds = [clipped_std(torch.cat(chunks)) for chunks in collected]
    logger.debug("hidden-state stds on %s: %s", dataset.task, stds)
    return stds


def combined_z(router_row: np.ndarray | Tensor, z: np.ndarray | Tensor, mode: str = "sigmoid") -> np.ndarray | Tensor:
    """Routing-weighted combination of module vectors, ``z_l = sum_k w_{l,k} z_{l,k}`` (MP2 stage II start).

    Because ``A_l`` is shared by a layer's modules, ``z_l @ A_l`` equals the routed layer prompt.

    Args:
        router_row: ``L' x K`` router logits of one task (numpy or torch).
        z: ``L' x K x d`` module vectors.
        mode: ``sigmoid`` or ``binary`` (deterministic modes only).

    Returns:
        ``L' x d``, numpy float64 if both inputs are numpy, else a torch tensor.
    """
    if mode not in ("sigmoid", "binary"):
        raise ConfigError(f"combined_z needs a deterministic routing mode ('sigmoid' or 'binary'), got {mode!r}")
    as_numpy = isinstance(router_row, np.ndarray) and isinstance(z, np.ndarray)
    r = torch.as_tensor(np.asarray(router_row, dtype=np.float64) if as_numpy else router_row)
    zz = torch.as_tensor(np.asarray(z, dtype=np.float64) if as_numpy else z)
    if zz.ndim != 3 or r.shape != zz.shape[:2]:
        raise ShapeError(f"combined_z needs router_row L'xK and z L'xKxd; got {tuple(r.shape)} and {tuple(zz.shape)}")
    w = routing_weights(r.to(zz.dtype), mode)
    out = torch.einsum("lk,lkd->ld", w, zz)
    return out.numpy() if as_numpy else out


class ModularPrompt(nn.Module):
    """MP2's deep (or shallow) modular prompt: K module vectors per prompted layer, shared A_l, task routers.

    Parameters (all trainable ``nn.Parameter`` s, float32):
        ``z``: ``L' x K x d`` module vectors; ``A``: ``L' x d x (n*h)`` projections; ``router``: ``T x L' x K``.
    Initialisation follows the reference code: ``A ~ U(+-1/sqrt(n*h))``, ``z, router ~ U(+-1e-3)``, drawn on CPU
    from a generator seeded by ``seed``.

    Args:
        n_tasks: T, number of router rows.
        layers: the prompted layers (``(0,)`` = shallow).
        n_modules: K.
        d: intrinsic dimension.
        n_tokens: prompt length n.
        hidden: hidden size h.
        seed: init seed.
    """

    def __init__(
        self, n_tasks: int, layers: tuple[int, ...], *, n_modules: int = 8, d: int = 300, n_tokens: int = 50,
        hidden: int = 1024, seed: int = 0,
    ) -> None:
        super().__init__()
        if n_tasks <= 0 or n_modules <= 0 or d <= 0 or n_tokens <= 0 or hidden <= 0 or not layers:
            raise ConfigError(
                f"ModularPrompt sizes must be > 0 and layers non-empty; got n_tasks={n_tasks}, layers={layers}, "
                f"n_modules={n_modules}, d={d}, n_tokens={n_tokens}, hidden={hidden}"
            )
        self.layers = tuple(int(x) for x in layers)
        self.n_modules, self.d, self.n_tokens, self.hidden = n_modules, d, n_tokens, hidden
        gen = torch.Generator().manual_seed(int(seed))
        lp, width = len(self.layers), n_tokens * hidden

        def uni(shape: tuple[int, ...], bound: float) -> Tensor:
            return (torch.rand(shape, generator=gen) * 2 - 1) * bound

        self.A = nn.Parameter(uni((lp, d, width), 1.0 / math.sqrt(width)))
        self.z = nn.Parameter(uni((lp, n_modules, d), 1e-3))
        self.router = nn.Parameter(uni((n_tasks, lp, n_modules), 1e-3))

    @classmethod
    def from_checkpoint(cls, ckpt: MP2Checkpoint) -> ModularPrompt:
        """A ModularPrompt holding a checkpoint's ``z``, ``A`` and ``router`` (copies, float32)."""
        c = ckpt.config
        mp = cls(len(c.task_names), c.layers, n_modules=c.n_modules, d=c.d, n_tokens=c.n_tokens, hidden=c.hidden)
        with torch.no_grad():
            mp.A.copy_(ckpt.A)
            mp.z.copy_(ckpt.z)
            mp.router.copy_(ckpt.router)
        return mp

    def weights(
        self, task_index: int, mode: str = "sigmoid", *, temperature: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Normalised routing weights of one task, ``L' x K`` (see :func:`routing_weights`)."""
        if not 0 <= task_index < self.router.shape[0]:
            raise ConfigError(f"task_index {task_index} out of range; this prompt has {self.router.shape[0]} tasks")
        return routing_weights(self.router[task_index], mode, temperature=temperature, generator=generator)

    def layer_prompts(
        self, task_index: int, mode: str = "sigmoid", *, temperature: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """The layer prompts of one task: ``L' x n_tokens x hidden`` (differentiable in z, A and router).

        ``P_l = (sum_k w_{l,k} z_{l,k}) @ A_l`` -- equal to ``sum_k w_{l,k} (z_{l,k} @ A_l)``.
        """
        w = self.weights(task_index, mode, temperature=temperature, generator=generator)
        zc = torch.einsum("lk,lkd->ld", w, self.z)
        return torch.bmm(zc.unsqueeze(1), self.A).reshape(len(self.layers), self.n_tokens, self.hidden)

    def forward(self, task_index: int, mode: str = "sigmoid", **kwargs: object) -> Tensor:
        """Alias of :meth:`layer_prompts`."""
        return self.layer_prompts(task_index, mode, **kwargs)  # type: ignore[arg-type]
