"""Dev evaluation during pre-training, through THE scorer (:class:`bbt_mp2.evaluator.Evaluator`).

Pre-training, the recipe report and gradient downstream tuning score a prompt with the evaluator's forward, its
head scoring, its span decoder (which can answer "no answer") and the task's own metric
(:mod:`bbt_mp2.tasks.metrics`: accuracy, or F1 for MRPC, or span F1). Only the differentiable training forward
(:func:`bbt_mp2.pretrain.model.prompted_hidden`) lives on the gradient side.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from bbt_mp2.encoding import EncodedDataset
from bbt_mp2.methods.controls import class_distribution, prediction_controls

__all__ = ["DatasetScores", "score_dataset", "dev_evaluator", "class_distribution", "prediction_controls"]

logger = logging.getLogger(__name__)


@dataclass
class DatasetScores:
    """Predictions of one prompt on one encoded dataset.

    Attributes:
        metric: the task's metric (``bbt_mp2.tasks.get_task(ds.task).metric``: accuracy, binary F1, span F1), in
            [0, 1]; accuracy / span F1 for a task outside the registry.
        loss: mean span loss (``(CE(start) + CE(end)) / 2``, the pre-training loss).
        predicted: ``N`` int64 predicted option (-1 for span tasks).
        labels: ``N`` int64 gold option (-1 for span tasks).
        scores: ``N x C`` float64 option scores (``N x 0`` for span tasks; padded options -inf).
        texts: predicted answer strings (span tasks; ``""`` = no answer).
    """

    metric: float
    loss: float
    predicted: np.ndarray
    labels: np.ndarray
    scores: np.ndarray
    texts: list[str] = field(default_factory=list)


def dev_evaluator(backbone: Any, head: nn.Module, *, batch_size: int = 64, max_length: int = 128) -> Any:
    """An :class:`~bbt_mp2.evaluator.Evaluator` over ``backbone`` and ``head`` where they live (no copies).

    Args:
        backbone: the frozen backbone (its parameters' device and dtype are used).
        head: an MRC span head; the evaluator reads its current weights on every call.
        batch_size: examples per micro-batch at ``max_length`` tokens (the token budget is their product).
        max_length: the encoded length the budget is sized for.

    Returns:
        The evaluator (no activation cache: dev sets are scored once per prompt).
    """
    from bbt_mp2.evaluator import Evaluator

    param = next(backbone.parameters())
    return Evaluator(backbone, head, device=param.device, dtype=param.dtype, cache_size=0,
                     token_budget=max(1, batch_size) * max(1, max_length))


def score_dataset(backbone: Any, head: nn.Module, ds: EncodedDataset, prompts: Tensor, layers: Sequence[int], *,
                  batch_size: int = 64, device: torch.device | str | None = None,
                  evaluator: Any | None = None) -> DatasetScores:
    """Score one prompt on every example of ``ds`` with the evaluator.

    Args:
        backbone: the frozen backbone.
        head: an MRC span head (``option_scores`` / ``best_spans``).
        ds: the encoded dataset (``N`` examples).
        prompts: ``L' x n x h`` float prompts for ``layers``.
        layers: the prompted layers.
        batch_size: examples per micro-batch (sizes the evaluator's token budget).
        device: unused (kept for callers); the forward runs where ``backbone`` lives.
        evaluator: an evaluator from :func:`dev_evaluator` to reuse (default: one is built for this call).

    Returns:
        :class:`DatasetScores`.
    """
    ev = evaluator if evaluator is not None else dev_evaluator(backbone, head, batch_size=batch_size,
                                                                max_length=int(ds.input_ids.shape[1]))
    pred = ev.predict(ds, prompts.detach().float(), tuple(layers), loss="span_ce")
    return DatasetScores(metric=float(pred.metric), loss=float(pred.loss), predicted=pred.predicted,
                         labels=pred.labels, scores=pred.scores, texts=list(pred.texts))
