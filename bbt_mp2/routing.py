"""Router logits -> module weights: THE routing rule of MP2, for pre-training, evaluation and black-box tuning.

Torch-free at import: numpy logits (black-box tuning, on the client side of a Backend) are routed in numpy; torch
logits (pre-training, where gradients flow) with torch, imported only when a tensor arrives. Both paths apply the
same rule, written once in :func:`_deterministic`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from bbt_mp2.errors import ConfigError

__all__ = ["ROUTING_MODES", "routing_weights", "route"]

ROUTING_MODES = ("relaxed_bernoulli", "binary", "sigmoid")
_NORM_EPS = 1e-12  # added to the sum of routing weights (as the reference code)


def routing_weights(logits: Any, mode: str, *, temperature: float = 1.0, generator: Any = None) -> Any:
    """Normalised routing weights from router logits.

    Modes: ``relaxed_bernoulli`` (training; one sample ``sigmoid((logit + log u - log(1-u)) / temperature)``
    per call), ``binary`` (paper: ``w = 1[logit > 0]``), ``sigmoid`` (reference code: ``w = sigmoid(logit)``).
    Every mode divides by the row sum plus 1e-12.

    Binary rule for a row with no active module (every logit <= 0): the row's argmax module is used, so a layer
    prompt never vanishes; modules tied at the maximum share the weight equally. Pre-training evaluation, the
    checkpoint's inference routing and black-box tuning (:func:`route`) all call this function, so they score the
    same prompt for the same router. The untuned MP2 router (all zeros) therefore gives the uniform mixture of the
    modules under both deterministic modes (sigmoid(0) = 1/2 for every module).

    Args:
        logits: ``... x K`` router logits: a torch tensor (gradients flow for relaxed_bernoulli and sigmoid) or
            an array-like (deterministic modes only; computed in float64 numpy).
        mode: one of :data:`ROUTING_MODES`.
        temperature: tau of the relaxed Bernoulli.
        generator: ``torch.Generator`` for the relaxed-Bernoulli noise (on ``logits.device``).

    Returns:
        ``... x K`` weights summing to 1 over the last axis: a tensor for a tensor, float64 ndarray otherwise.

    Raises:
        ConfigError: unknown mode, ``relaxed_bernoulli`` for numpy logits, temperature <= 0.
    """
    if mode not in ROUTING_MODES:
        raise ConfigError(f"routing mode {mode!r} is unknown; choose one of {ROUTING_MODES}")
    if type(logits).__module__.startswith("torch"):
        return _torch_weights(logits, mode, temperature, generator)
    if mode == "relaxed_bernoulli":
        raise ConfigError(f"numpy router logits take a deterministic routing ('sigmoid' or 'binary'); got "
                          f"{mode!r} (relaxed_bernoulli samples need torch logits and a generator)")
    r = np.asarray(logits, dtype=np.float64)
    s = _deterministic(r, mode, sigmoid=lambda a: 1.0 / (1.0 + np.exp(-a)),
                       rowmax=lambda a: a.max(axis=-1, keepdims=True))
    return s / (s.sum(axis=-1, keepdims=True) + _NORM_EPS)


def route(router: Any, routing: str) -> np.ndarray:
    """Numpy caller of :func:`routing_weights` (MP2 black-box tuning): ``... x K`` logits -> float64 weights.

    Args:
        router: ``... x K`` router logits (array-like).
        routing: ``sigmoid`` or ``binary``.

    Returns:
        ``... x K`` float64 weights summing to 1 over the last axis.
    """
    return routing_weights(np.asarray(router, dtype=np.float64), routing)


def _deterministic(x: Any, mode: str, *, sigmoid: Callable[[Any], Any], rowmax: Callable[[Any], Any]) -> Any:
    """Unnormalised weights of ``sigmoid`` or ``binary`` routing, for numpy arrays and torch tensors alike."""
    if mode == "sigmoid":
        return sigmoid(x)
    one = x * 0 + 1  # ones of x's dtype and device
    s = (x > 0) * one
    none = (s.sum(-1, keepdims=True) if isinstance(x, np.ndarray) else s.sum(-1, keepdim=True)) == 0
    fallback = (x == rowmax(x)) * one  # argmax module(s); ties share
    return s + none * fallback  # rows with an active module keep s (fallback is masked out)


def _torch_weights(logits: Any, mode: str, temperature: float, generator: Any) -> Any:
    import torch

    if mode == "relaxed_bernoulli":
        if temperature <= 0:
            raise ConfigError(f"relaxed-Bernoulli temperature must be > 0, got {temperature}")
        u = torch.rand(logits.shape, generator=generator, device=logits.device, dtype=logits.dtype)
        u = u.clamp(1e-6, 1 - 1e-6)
        s = torch.sigmoid((logits + torch.log(u) - torch.log1p(-u)) / temperature)
    else:
        s = _deterministic(logits, mode, sigmoid=torch.sigmoid, rowmax=lambda a: a.amax(-1, keepdim=True))
    return s / (s.sum(-1, keepdim=True) + _NORM_EPS)
