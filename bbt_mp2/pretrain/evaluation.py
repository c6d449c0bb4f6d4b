"""Dev evaluation during pre-training: accuracy on option tasks (via option scores), span F1 on span tasks."""

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
from bbt_mp2.pretrain.data import batch_tensors
from bbt_mp2.pretrain.model import prompted_hidden, span_loss

__all__ = ["DatasetScores", "score_dataset", "class_distribution", "prediction_controls"]

logger = logging.getLogger(__name__)

MAX_ANSWER_TOKENS = 30


@dataclass
class DatasetScores:
    """Predictions of one prompt on one encoded dataset.

    Attributes:
        metric: accuracy (option tasks) or mean span F1 (span tasks), in [0, 1].
        loss: mean span loss.
        predicted: ``N`` int64 predicted option (-1 for span tasks).
        labels: ``N`` int64 gold option (-1 for span tasks).
        scores: ``N x C`` float64 option scores (``N x 0`` for span tasks; padded options -inf).
        texts: predicted answer strings (span tasks).
    """

    metric: float
    loss: float
    predicted: np.ndarray
    labels: np.ndarray
    scores: np.ndarray
    texts: list[str] = field(default_factory=list)


def _decode(ds: EncodedDataset, row: int, s: int, e: int) -> str:
    if hasattr(ds, "span_text"):
        return ds.span_text(row, s, e)
    if not ds.offsets or e < s:
        return ""
    offs = ds.offsets[row]
    return ds.mrc_texts[row][offs[s][0]:offs[e][1]].strip()


@torch.no_grad()
def score_dataset(backbone: Any, head: nn.Module, ds: EncodedDataset, prompts: Tensor, layers: Sequence[int], *,
                  batch_size: int = 64, device: torch.device | str = "cpu") -> DatasetScores:
    """Score one prompt on every example of ``ds``.

    Args:
        backbone: the frozen backbone.
        head: an MRC span head (``option_scores`` / ``best_spans``).
        ds: the encoded dataset (``N`` examples).
        prompts: ``L' x n x h`` float prompts for ``layers``.
        layers: the prompted layers.
        batch_size: examples per forward pass.
        device: where the batches go.

    Returns:
        :class:`DatasetScores`.
    """
    from bbt_mp2.tasks.metrics import span_f1

    is_option = ds.n_options > 0
    losses, preds, scores, texts, f1s = [], [], [], [], []
    for lo in range(0, len(ds), batch_size):
        idx = np.arange(lo, min(lo + batch_size, len(ds)))
        b = batch_tensors(ds, idx, device)
        h = prompted_hidden(backbone, b["input_ids"], b["attention_mask"], b["token_type_ids"], prompts, layers)
        start, end = head(h)
        losses.append(float(span_loss(start, end, b["start_positions"], b["end_positions"], b["attention_mask"]))
                      * len(idx))
        if is_option:
            s = head.option_scores(start, end, b["option_spans"]).double().cpu()
            scores.append(s.numpy())
            preds.append(s.argmax(dim=1).numpy())
        else:
            spans = head.best_spans(start, end, b["context_spans"], MAX_ANSWER_TOKENS).cpu().numpy()
            for j, row in enumerate(idx):
                text = _decode(ds, int(row), int(spans[j, 0]), int(spans[j, 1]))
                texts.append(text)
                golds = ds.answers[row] if ds.answers else []
                f1s.append(float(span_f1(text, list(golds))))
    n = len(ds)
    labels = np.asarray(ds.labels, dtype=np.int64)
    if is_option:
        predicted = np.concatenate(preds).astype(np.int64) if preds else np.zeros(0, np.int64)
        metric = float((predicted == labels).mean()) if n else 0.0
        score_arr = np.concatenate(scores) if scores else np.zeros((0, ds.n_options))
    else:
        predicted = np.full(n, -1, dtype=np.int64)
        metric = float(np.mean(f1s)) if f1s else 0.0
        score_arr = np.zeros((n, 0))
    return DatasetScores(metric=metric, loss=float(sum(losses) / max(n, 1)), predicted=predicted, labels=labels,
                         scores=score_arr, texts=texts)
