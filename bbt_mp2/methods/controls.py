"""Controls reported beside every tuned metric: predicted-class distribution and a threshold-free score (AUC).

Shared by the black-box methods (over :class:`bbt_mp2.backend.Prediction`) and the gradient side
(``bbt_mp2.pretrain``, over its ``DatasetScores``): both carry ``metric, loss, predicted, labels, scores``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from bbt_mp2.tasks.metrics import roc_auc

__all__ = ["prediction_controls", "class_distribution"]


def class_distribution(predicted: np.ndarray, n_classes: int) -> list[float]:
    """Fraction of predictions per class (``n_classes`` floats); answering one class everywhere shows here."""
    if len(predicted) == 0 or n_classes <= 0:
        return []
    predicted = np.asarray(predicted)
    counts = np.bincount(predicted[predicted >= 0], minlength=n_classes)[:n_classes]
    return (counts / len(predicted)).round(6).tolist()


def prediction_controls(pred: Any) -> dict[str, Any]:
    """Metric, predicted-class distribution and (binary tasks) AUC of one candidate's predictions.

    Args:
        pred: a :class:`bbt_mp2.backend.Prediction` or anything with ``metric``, ``loss``, ``predicted`` (``N``),
            ``labels`` (``N``) and ``scores`` (``N x C``; ``N x 0`` for span tasks).

    Returns:
        ``{"metric", "loss", "n", "predicted_distribution" (fraction per option, or None for span tasks),
        "majority_fraction" (share of the most predicted option), "auc" (binary option tasks with both classes
        present, score = option 1 minus option 0; else None)}``.
    """
    scores = np.asarray(pred.scores)
    n_options = int(scores.shape[1]) if scores.ndim == 2 else 0
    out: dict[str, Any] = {"metric": float(pred.metric), "loss": float(pred.loss), "n": int(len(pred.labels))}
    if n_options == 0 or len(pred.predicted) == 0:
        out.update(predicted_distribution=None, majority_fraction=None, auc=None)
        return out
    dist = class_distribution(pred.predicted, n_options)
    out.update(predicted_distribution=dist, majority_fraction=float(max(dist)), auc=None)
    labels = np.asarray(pred.labels)
    if n_options == 2 and np.isin(labels, (0, 1)).all():
        auc = roc_auc(scores[:, 1] - scores[:, 0], labels)
        out["auc"] = None if math.isnan(auc) else auc
    return out
