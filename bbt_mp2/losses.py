"""Fitness functions of a population, vectorised: per-example values ``... x N`` reduced to ``...`` (e.g. ``P``).

All losses are computed in float32 whatever the backbone dtype. Shapes use ``...`` for any leading batch shape
(typically ``P``, the population), ``N`` for examples, ``C`` for options and ``T`` for tokens.

- :func:`option_ce`: cross-entropy over the per-option scores (the default for option tasks);
- :func:`option_margin`: multi-class hinge, ``sum_{j != y} max(0, s_j - s_y + margin)`` (BBT, margin 2);
- :func:`span_ce`: the MRC span loss ``(CE(start) + CE(end)) / 2`` over all real positions;
- :func:`neg_metric`: ``-metric``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from bbt_mp2.backend import LOSSES
from bbt_mp2.errors import ConfigError, ShapeError

__all__ = ["resolve_loss", "option_ce", "option_margin", "span_ce", "neg_metric", "reduce_examples"]

_REDUCTIONS = ("mean", "none")


def resolve_loss(loss: str, n_options: int) -> str:
    """Map ``"auto"`` to ``option_ce`` (option tasks, ``n_options > 0``) or ``span_ce`` (span tasks).

    Raises:
        ConfigError: unknown loss name, or an option loss asked for a span task.
    """
    if loss not in LOSSES:
        raise ConfigError(f"loss {loss!r} is unknown; choose one of {LOSSES}")
    if loss == "auto":
        return "option_ce" if n_options > 0 else "span_ce"
    if loss in ("option_ce", "option_margin") and n_options == 0:
        raise ConfigError(f"loss {loss!r} needs an option task; this dataset is a span task (use 'span_ce')")
    return loss


def reduce_examples(values: Tensor, reduction: str) -> Tensor:
    """Average ``... x N`` per-example values over ``N`` (``mean``) or return them unchanged (``none``)."""
    if reduction not in _REDUCTIONS:
        raise ConfigError(f"reduction {reduction!r} is unknown; choose one of {_REDUCTIONS}")
    return values.mean(-1) if reduction == "mean" else values


def _check_labels(scores: Tensor, labels: Tensor) -> Tensor:
    labels = torch.as_tensor(labels, device=scores.device).long()
    if labels.shape != scores.shape[-2:-1]:
        raise ShapeError(f"labels have shape {tuple(labels.shape)}; expected ({scores.shape[-2]},) to match scores")
    if labels.numel() and (labels.min() < 0 or labels.max() >= scores.shape[-1]):
        raise ShapeError(
            f"labels must lie in [0, {scores.shape[-1]}); got range [{int(labels.min())}, {int(labels.max())}]. "
            "Unlabelled examples (-1) cannot be scored."
        )
    return labels


def _gold(scores: Tensor, labels: Tensor) -> Tensor:
    idx = labels.expand(scores.shape[:-1]).unsqueeze(-1)
    return scores.gather(-1, idx).squeeze(-1)


def option_ce(scores: Tensor, labels: Tensor, *, reduction: str = "mean") -> Tensor:
    """Cross-entropy of the softmax over options.

    Args:
        scores: ``... x N x C`` per-option scores; padded options hold ``-inf``.
        labels: ``N`` int gold option index.
        reduction: ``mean`` over examples or ``none``.

    Returns:
        ``...`` (mean) or ``... x N`` float32.
    """
    s = scores.float()
    labels = _check_labels(s, labels)
    return reduce_examples(torch.logsumexp(s, -1) - _gold(s, labels), reduction)


def option_margin(scores: Tensor, labels: Tensor, *, margin: float = 2.0, reduction: str = "mean") -> Tensor:
    """Weston-Watkins multi-class hinge: ``sum_{j != y} max(0, s_j - s_y + margin)`` per example (BBT).

    Args:
        scores: ``... x N x C`` per-option scores; padded options hold ``-inf`` (contribute 0).
        labels: ``N`` int gold option index.
        margin: the hinge margin (2 in BBT).
        reduction: ``mean`` over examples or ``none``.

    Returns:
        ``...`` (mean) or ``... x N`` float32.
    """
    s = scores.float()
    labels = _check_labels(s, labels)
    gold = _gold(s, labels)
    hinge = torch.clamp(s - gold.unsqueeze(-1) + margin, min=0.0)
    hinge = torch.nan_to_num(hinge, nan=0.0, posinf=0.0)  # -inf pads: max(0, -inf) = 0 already; guard anyway
    is_gold = torch.nn.functional.one_hot(labels, s.shape[-1]).bool().expand(s.shape)
    return reduce_examples(hinge.masked_fill(is_gold, 0.0).sum(-1), reduction)


def span_ce(
    start_logits: Tensor,
    end_logits: Tensor,
    start_positions: Tensor,
    end_positions: Tensor,
    mask: Tensor,
    *,
    reduction: str = "mean",
) -> Tensor:
    """MRC span loss ``(CE(start) + CE(end)) / 2``, softmax over the real positions of each example.

    Args:
        start_logits: ``... x N x T`` start logits.
        end_logits: ``... x N x T`` end logits.
        start_positions: ``N`` gold start token.
        end_positions: ``N`` gold end token (inclusive).
        mask: ``N x T`` 1 for real tokens (padding is excluded from the softmax).
        reduction: ``mean`` over examples or ``none``.

    Returns:
        ``...`` (mean) or ``... x N`` float32.
    """
    if start_logits.shape != end_logits.shape or start_logits.shape[-2:] != tuple(mask.shape):
        raise ShapeError(
            f"span_ce needs start/end logits ... x N x T matching mask N x T; got {tuple(start_logits.shape)}, "
            f"{tuple(end_logits.shape)}, mask {tuple(mask.shape)}"
        )
    pad = ~torch.as_tensor(mask, device=start_logits.device).bool()

    def ce(logits: Tensor, pos: Tensor) -> Tensor:
        x = logits.float().masked_fill(pad, float("-inf"))
        pos = torch.as_tensor(pos, device=x.device).long()
        gold = x.gather(-1, pos.expand(x.shape[:-1]).unsqueeze(-1)).squeeze(-1)
        return torch.logsumexp(x, -1) - gold

    return reduce_examples((ce(start_logits, start_positions) + ce(end_logits, end_positions)) / 2, reduction)


def neg_metric(metric: Tensor) -> Tensor:
    """The negated metric (``...``), a loss for optimisers that minimise."""
    return -torch.as_tensor(metric, dtype=torch.float32)
