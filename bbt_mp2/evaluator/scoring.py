"""Task metrics of a population from the evaluator's raw outputs (option scores or predicted spans)."""

from __future__ import annotations

import logging

import numpy as np

from bbt_mp2.encoding import EncodedDataset
from bbt_mp2.errors import ConfigError, UnknownNameError
from bbt_mp2.tasks.types import Metric

__all__ = ["resolve_metric", "option_metric", "decode_spans", "span_metric"]

logger = logging.getLogger(__name__)


def resolve_metric(dataset: EncodedDataset, metric: Metric | str | None) -> Metric:
    """The metric to report: ``metric`` if given, else the task spec's (``bbt_mp2.tasks.get_task``), else
    accuracy for option tasks and span F1 for span tasks."""
    if metric is not None:
        try:
            return Metric(metric)
        except ValueError:
            raise ConfigError(f"metric {metric!r} is unknown; choose one of {[m.value for m in Metric]}") from None
    try:
        from bbt_mp2.tasks import get_task

        return get_task(dataset.task).metric
    except (ImportError, UnknownNameError, KeyError):
        logger.debug("task %r is not registered; using the default metric", dataset.task)
    return Metric.ACC if dataset.n_options > 0 else Metric.SPAN_F1


def option_metric(pred: np.ndarray, labels: np.ndarray, metric: Metric) -> np.ndarray:
    """Accuracy or binary F1 (positive class = option 1) per candidate.

    Args:
        pred: ``P x N`` int predicted option per candidate and example.
        labels: ``N`` int gold option.
        metric: ``acc`` or ``f1``.

    Returns:
        ``P`` float64 in [0, 1] (F1 is 0 when there are no true positives).
    """
    pred = np.asarray(pred)
    labels = np.asarray(labels)[None, :]
    if metric == Metric.ACC:
        return (pred == labels).mean(axis=1).astype(np.float64)
    if metric == Metric.F1:
        tp = ((pred == 1) & (labels == 1)).sum(axis=1)
        fp = ((pred == 1) & (labels != 1)).sum(axis=1)
        fn = ((pred != 1) & (labels == 1)).sum(axis=1)
        denom = 2 * tp + fp + fn
        return np.where(denom > 0, 2 * tp / np.maximum(denom, 1), 0.0).astype(np.float64)
    raise ConfigError(f"metric {metric.value!r} does not apply to option predictions; use 'acc' or 'f1'")


def decode_spans(dataset: EncodedDataset, spans: np.ndarray) -> list[list[str]]:
    """Predicted token spans -> answer strings via ``dataset.offsets`` and ``dataset.mrc_texts``.

    Args:
        dataset: the encoded dataset (needs ``offsets`` and ``mrc_texts``).
        spans: ``P x N x 2`` int (first, last) token, inclusive.

    Returns:
        ``P`` lists of ``N`` strings (empty for an invalid span).
    """
    if len(dataset.offsets) != len(dataset) or len(dataset.mrc_texts) != len(dataset):
        raise ConfigError(
            f"span decoding needs dataset.offsets and dataset.mrc_texts for all {len(dataset)} examples; got "
            f"{len(dataset.offsets)} and {len(dataset.mrc_texts)}. Encode the data with bbt_mp2.encoding.encode."
        )
    out: list[list[str]] = []
    for cand in np.asarray(spans):
        texts = []
        for i, (s, e) in enumerate(cand):
            offs = dataset.offsets[i]
            if 0 <= s <= e < len(offs):
                texts.append(dataset.mrc_texts[i][offs[s][0]:offs[e][1]])
            else:
                texts.append("")
        out.append(texts)
    return out


def span_metric(texts: list[list[str]], answers: list[list[str]], metric: Metric) -> np.ndarray:
    """Mean span F1 / EM per candidate (``bbt_mp2.tasks.metrics``), ``P`` float64."""
    from bbt_mp2.tasks import metrics as task_metrics

    if metric == Metric.SPAN_F1:
        fn = task_metrics.span_f1
    elif metric == Metric.SPAN_EM:
        fn = task_metrics.span_em
    else:
        raise ConfigError(f"metric {metric.value!r} does not apply to span predictions; use 'span_f1' or 'span_em'")
    if texts and len(answers) != len(texts[0]):
        raise ConfigError(f"span metric needs gold answers for every example; got {len(answers)}")
    return np.array([np.mean([fn(t, list(g)) for t, g in zip(row, answers)]) for row in texts], dtype=np.float64)
