"""Controls reported beside every tuned metric: predicted-class distribution and a threshold-free score (AUC)."""

from __future__ import annotations

from typing import Any

import numpy as np

from bbt_mp2.backend import Prediction

__all__ = ["prediction_controls", "roc_auc"]


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float | None:
    """Area under the ROC curve of ``scores`` (``N`` float, higher = class 1) against 0/1 ``labels`` (``N``).

    Ties count one half (Mann-Whitney U). Returns None when only one class is present.
    """
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels)
    pos, neg = scores[labels == 1], scores[labels == 0]
    if len(pos) == 0 or len(neg) == 0:
        return None
    greater = (pos[:, None] > neg[None, :]).sum()
    ties = (pos[:, None] == neg[None, :]).sum()
    return float((greater + 0.5 * ties) / (len(pos) * len(neg)))


def prediction_controls(pred: Prediction) -> dict[str, Any]:
    """Metric, predicted-class distribution and (binary tasks) AUC of one candidate's predictions.

    Returns:
        ``{"metric", "loss", "n", "predicted_distribution" (fraction per option, or None for span tasks),
        "majority_fraction" (share of the most predicted option), "auc" (binary option tasks, else None)}``.
    """
    n_options = int(pred.scores.shape[1]) if pred.scores.ndim == 2 else 0
    out: dict[str, Any] = {"metric": float(pred.metric), "loss": float(pred.loss), "n": int(len(pred.labels))}
    if n_options == 0 or len(pred.predicted) == 0:
        out.update(predicted_distribution=None, majority_fraction=None, auc=None)
        return out
    counts = np.bincount(np.clip(pred.predicted, 0, n_options - 1), minlength=n_options)
    dist = counts / max(1, counts.sum())
    out["predicted_distribution"] = [round(float(p), 6) for p in dist]
    out["majority_fraction"] = float(dist.max())
    out["auc"] = None
    if n_options == 2:
        out["auc"] = roc_auc(pred.scores[:, 1] - pred.scores[:, 0], pred.labels)
    return out
